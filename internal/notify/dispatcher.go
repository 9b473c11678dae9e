package notify

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"path"
	"sync"
	"sync/atomic"
	"time"
)

// Target is one configured receiver: a notifier and the events it wants.
type Target struct {
	// Name identifies the target in logs; never a URL (a Slack URL is a
	// secret).
	Name     string
	Notifier Notifier
	// Events are patterns on Event.Name ("pipeline.failed", "pipeline.*",
	// "*.failed", "*"), as path.Match reads them. Empty means all.
	Events []string
}

// Wants tells whether the target subscribes to the event.
func (t Target) Wants(e Event) bool {
	if len(t.Events) == 0 {
		return true
	}
	for _, p := range t.Events {
		if ok, _ := path.Match(p, e.Name()); ok {
			return true
		}
	}
	return false
}

// Options tune a Dispatcher. Zero fields take the defaults.
type Options struct {
	// QueueSize bounds each target's queue (default 256). A full queue
	// drops new events with a warning.
	QueueSize int
	// MaxAttempts per event and target, the first included (default 6).
	MaxAttempts int
	// MinBackoff is the wait after the first failure (default 1s); it
	// doubles at each attempt up to MaxBackoff (default 1m), with jitter.
	MinBackoff, MaxBackoff time.Duration
	// MaxRetryAfter caps a receiver's Retry-After (default 10m); a longer
	// one gives the event up.
	MaxRetryAfter time.Duration
	// Timeout bounds one attempt (default 15s).
	Timeout time.Duration
	Logger  *slog.Logger
}

func (o Options) withDefaults() Options {
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 256
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 6
	}
	def(&o.MinBackoff, time.Second)
	def(&o.MaxBackoff, time.Minute)
	def(&o.MaxRetryAfter, 10*time.Minute)
	def(&o.Timeout, 15*time.Second)
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Stats counts what a Dispatcher did, over all targets.
type Stats struct {
	Delivered, Retried, Failed, Dropped, Superseded int64
}

// Dispatcher sends events to targets in the background. Each target has its
// own bounded queue and worker, so events reach a receiver in the order they
// happened and a slow receiver delays only itself.
type Dispatcher struct {
	opts    Options
	log     *slog.Logger
	workers []*worker

	mu     sync.RWMutex // guards closed against sends on closed queues
	closed bool

	ctx    context.Context // canceled when Close gives up waiting
	cancel context.CancelFunc
	wg     sync.WaitGroup

	delivered, retried, failed, dropped, superseded atomic.Int64
}

type worker struct {
	target Target
	queue  chan job
	// latest is the sequence number of the newest queued event per
	// subject, so a retry of an outdated state is abandoned.
	mu     sync.Mutex
	seq    uint64
	latest map[string]uint64
}

type job struct {
	event    Event
	seq      uint64
	delivery string
}

// NewDispatcher starts one worker per target.
func NewDispatcher(targets []Target, opts Options) *Dispatcher {
	opts = opts.withDefaults()
	d := &Dispatcher{opts: opts, log: opts.Logger}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	for _, t := range targets {
		w := &worker{target: t, queue: make(chan job, opts.QueueSize), latest: map[string]uint64{}}
		d.workers = append(d.workers, w)
		d.wg.Add(1)
		go d.run(w)
	}
	return d
}

// Notify queues the event for every target that wants it and returns at
// once. When a target's queue is full, or the dispatcher is closed, the
// event is dropped for that target with a warning.
func (d *Dispatcher) Notify(e Event) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	for _, w := range d.workers {
		if !w.target.Wants(e) {
			continue
		}
		if d.closed {
			d.drop(w, e, "dispatcher closed")
			continue
		}
		w.mu.Lock()
		w.seq++
		j := job{event: e, seq: w.seq, delivery: newDeliveryID()}
		select {
		case w.queue <- j:
			w.latest[e.subject()] = j.seq
		default:
			w.mu.Unlock()
			d.drop(w, e, "queue full")
			continue
		}
		w.mu.Unlock()
	}
}

func (d *Dispatcher) drop(w *worker, e Event, reason string) {
	d.dropped.Add(1)
	d.log.Warn("notify: event dropped", "target", w.target.Name, "event", e.Name(), "subject", e.subject(), "reason", reason)
}

// Close stops accepting events and waits until the queued ones are
// delivered or given up, or until ctx ends: then pending attempts are
// canceled and Close returns ctx's error.
func (d *Dispatcher) Close(ctx context.Context) error {
	d.mu.Lock()
	if !d.closed {
		d.closed = true
		for _, w := range d.workers {
			close(w.queue)
		}
	}
	d.mu.Unlock()
	done := make(chan struct{})
	go func() { d.wg.Wait(); close(done) }()
	select {
	case <-done:
		d.cancel()
		return nil
	case <-ctx.Done():
		d.cancel()
		<-done
		return fmt.Errorf("notify: closing before every event was delivered: %w", ctx.Err())
	}
}

// Stats returns the counters so far.
func (d *Dispatcher) Stats() Stats {
	return Stats{Delivered: d.delivered.Load(), Retried: d.retried.Load(), Failed: d.failed.Load(),
		Dropped: d.dropped.Load(), Superseded: d.superseded.Load()}
}

func (d *Dispatcher) run(w *worker) {
	defer d.wg.Done()
	for j := range w.queue {
		if d.ctx.Err() != nil {
			d.drop(w, j.event, "dispatcher closed")
			continue
		}
		d.deliver(w, j)
	}
}

// deliver makes the attempts for one job.
func (d *Dispatcher) deliver(w *worker, j job) {
	defer w.forget(j)
	e := j.event
	log := d.log.With("target", w.target.Name, "event", e.Name(), "subject", e.subject())
	ctx := withDelivery(d.ctx, j.delivery)
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, d.opts.Timeout)
		err := w.target.Notifier.Notify(actx, e)
		cancel()
		if err == nil {
			d.delivered.Add(1)
			log.Debug("notify: delivered", "attempt", attempt)
			return
		}
		retry, retryAfter := retryable(err)
		if d.ctx.Err() != nil {
			retry = false
		}
		if retryAfter > d.opts.MaxRetryAfter {
			log.Error("notify: giving up, receiver asks to wait too long", "attempt", attempt, "retry_after", retryAfter, "error", err)
			d.failed.Add(1)
			return
		}
		if !retry || attempt >= d.opts.MaxAttempts {
			d.failed.Add(1)
			log.Error("notify: delivery failed", "attempt", attempt, "permanent", !retry, "error", err)
			return
		}
		wait := max(retryAfter, d.backoff(attempt))
		d.retried.Add(1)
		log.Warn("notify: delivery failed, retrying", "attempt", attempt, "retry_in", wait, "error", err)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-d.ctx.Done():
			t.Stop()
			d.failed.Add(1)
			log.Warn("notify: dispatcher closed before the retry", "attempt", attempt)
			return
		}
		if w.superseded(j) {
			d.superseded.Add(1)
			log.Info("notify: retry abandoned, a newer state of the same subject is queued")
			return
		}
	}
}

// forget drops the subject's entry once its newest job is done, so the map
// holds only subjects with queued events.
func (w *worker) forget(j job) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.latest[j.event.subject()] == j.seq {
		delete(w.latest, j.event.subject())
	}
}

func (w *worker) superseded(j job) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.latest[j.event.subject()] > j.seq
}

// backoff is the wait after the given failed attempt: MinBackoff doubled
// per attempt, capped at MaxBackoff, half of it random so that receivers
// coming back are not hit by every sender at once.
func (d *Dispatcher) backoff(attempt int) time.Duration {
	b := d.opts.MinBackoff
	for i := 1; i < attempt && b < d.opts.MaxBackoff; i++ {
		b *= 2
	}
	b = min(b, d.opts.MaxBackoff)
	half := b / 2
	return half + rand.N(half+1)
}
