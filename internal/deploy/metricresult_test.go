package deploy

import (
	"encoding/json"
	"math"
	"testing"
)

// A step whose query gave no value yet (Prometheus had not scraped the
// canary) is a failed check; the rollout's record holding it must still
// save, or the whole rollout fails with "json: unsupported value: NaN".
func TestCheckWithoutAMetricValueIsSaved(t *testing.T) {
	checks := []Check{{Weight: 50, Metrics: []MetricResult{
		{Name: "success", Value: math.NaN(), Reason: "metric success: " + errNoValue.Error()},
		{Name: "latency", Value: 0.25, Passed: true},
		{Name: "ratio", Value: math.Inf(1)},
	}}}
	b, err := json.Marshal(checks)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	var raw []struct {
		Metrics []map[string]any `json:"metrics"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	if v, ok := raw[0].Metrics[0]["value"]; !ok || v != nil || raw[0].Metrics[1]["value"] != 0.25 {
		t.Errorf("record %s: want null for no value and the value otherwise", b)
	}
	var back []Check
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	m := back[0].Metrics
	if !math.IsNaN(m[0].Value) || m[0].Reason == "" || m[1].Value != 0.25 || !m[1].Passed || m[1].Name != "latency" || !math.IsNaN(m[2].Value) {
		t.Errorf("read back %+v", m)
	}
}
