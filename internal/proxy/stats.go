package proxy

import (
	"math"
	"time"
)

// LatencyBuckets are the upper bounds, in seconds, of the latency histogram
// of Stats (Prometheus' default buckets).
var LatencyBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// Stats count the responses of one version of a route since the proxy
// started (or since the version came back into the route). Counters only
// grow, so the traffic of an interval is the difference of two snapshots
// (Sub).
type Stats struct {
	// Requests is the number of responses.
	Requests uint64
	// Classes counts responses by status class: Classes[2] the 2xx, ...,
	// Classes[5] the 5xx.
	Classes [6]uint64
	// Failed counts the requests the client saw fail with no status from
	// the upstream: it gave up (timed out) or its connection broke before
	// the response was done. They are in Requests, not in Classes.
	Failed uint64
	// Latency counts responses by duration: Latency[i] those at most
	// LatencyBuckets[i] and above the bound before; the last element those
	// above every bound. Upgraded connections (1xx) are not timed.
	Latency []uint64
	// LatencySum is the total duration of the timed responses.
	LatencySum time.Duration
}

// Errors is the number of 5xx responses, the proxy's own 502 for an
// upstream it could not reach included, and of failed requests.
func (s Stats) Errors() uint64 { return s.Classes[5] + s.Failed }

// SuccessRate is the share of responses that are not 5xx, 1 when there
// was none.
func (s Stats) SuccessRate() float64 {
	if s.Requests == 0 {
		return 1
	}
	return float64(s.Requests-s.Errors()) / float64(s.Requests)
}

// Quantile estimates the q-quantile (0 < q <= 1) of the latency: the upper
// bound of the bucket it falls in, +Inf in the last bucket, 0 without a
// timed response.
func (s Stats) Quantile(q float64) time.Duration {
	var total uint64
	for _, n := range s.Latency {
		total += n
	}
	if total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(total)))
	var seen uint64
	for i, n := range s.Latency {
		seen += n
		if seen >= rank && i < len(LatencyBuckets) {
			return time.Duration(LatencyBuckets[i] * float64(time.Second))
		}
	}
	return time.Duration(math.MaxInt64)
}

// Sub returns the counts of s that prev does not have: the traffic between
// the snapshots prev and s.
func (s Stats) Sub(prev Stats) Stats {
	d := Stats{Requests: s.Requests - prev.Requests, Failed: s.Failed - prev.Failed, LatencySum: s.LatencySum - prev.LatencySum}
	for i := range s.Classes {
		d.Classes[i] = s.Classes[i] - prev.Classes[i]
	}
	d.Latency = make([]uint64, len(s.Latency))
	for i := range s.Latency {
		d.Latency[i] = s.Latency[i]
		if i < len(prev.Latency) {
			d.Latency[i] -= prev.Latency[i]
		}
	}
	return d
}

// Observe counts one response of status code that took took.
func (s *Stats) Observe(code int, took time.Duration) {
	s.Requests++
	if c := code / 100; c >= 1 && c <= 5 {
		s.Classes[c]++
	}
	if code/100 == 1 {
		return
	}
	s.observeLatency(took)
}

// ObserveFailed counts one request that failed after took with no
// complete response (Failed).
func (s *Stats) ObserveFailed(took time.Duration) {
	s.Requests++
	s.Failed++
	s.observeLatency(took)
}

func (s *Stats) observeLatency(took time.Duration) {
	if s.Latency == nil {
		s.Latency = make([]uint64, len(LatencyBuckets)+1)
	}
	i := 0
	for i < len(LatencyBuckets) && took.Seconds() > LatencyBuckets[i] {
		i++
	}
	s.Latency[i]++
	s.LatencySum += took
}

// Add returns the counts of s and o together, e.g. of one version over
// several routes.
func (s Stats) Add(o Stats) Stats {
	sum := Stats{Requests: s.Requests + o.Requests, Failed: s.Failed + o.Failed, LatencySum: s.LatencySum + o.LatencySum}
	for i := range s.Classes {
		sum.Classes[i] = s.Classes[i] + o.Classes[i]
	}
	sum.Latency = make([]uint64, max(len(s.Latency), len(o.Latency)))
	for i := range sum.Latency {
		if i < len(s.Latency) {
			sum.Latency[i] += s.Latency[i]
		}
		if i < len(o.Latency) {
			sum.Latency[i] += o.Latency[i]
		}
	}
	return sum
}
