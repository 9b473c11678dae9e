//go:build kube

package gitopskube

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/slipway-cd/slipway/internal/gitops"
	"github.com/slipway-cd/slipway/internal/testenv"
	"github.com/slipway-cd/slipway/internal/testenv/kubetest"
)

// Targets of issue 12; the anchor is Flux reconciling 1,000
// Kustomizations in about 4 minutes.
const (
	objectCount    = 1000
	maxNoChange    = 2 * time.Second
	maxRSS         = 100 << 20
	benchGroup     = "kbench.slipway.dev"
	benchCRD       = "items." + benchGroup
	noChangePasses = 5
)

var passes = flag.Int("passes", noChangePasses, "measured no-change passes in the controller's process")

var itemGVK = schema.GroupVersionKind{Group: benchGroup, Version: "v1", Kind: "Item"}

// itemsFolder is a CRD and objectCount-1 objects of its kind: 1,000
// objects, the CRD applied first. A kind of the benchmark's own makes the
// API server's request counts of its group the benchmark's alone.
func itemsFolder() map[string]string {
	crd := `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: ` + benchCRD + `
spec:
  group: ` + benchGroup + `
  scope: Namespaced
  names: {kind: Item, listKind: ItemList, plural: items, singular: item}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec: {type: object, x-kubernetes-preserve-unknown-fields: true}
`
	var items strings.Builder
	for i := 1; i < objectCount; i++ {
		fmt.Fprintf(&items, `---
apiVersion: %s/v1
kind: Item
metadata:
  name: item-%04d
  labels: {team: team-%d}
  annotations: {example.com/owner: "someone@example.com"}
spec:
  index: %d
  replicas: 2
  image: registry.example.com/app-%d:1.0.%d
  env: {LOG_LEVEL: info, REGION: eu-west-1}
  ports: [8080, 9090]
`, benchGroup, i, i%7, i, i%50, i)
	}
	return map[string]string{"items/crd.yaml": crd, "items/items.yaml": items.String()}
}

// BenchmarkNoChangePass applies 1,000 objects with `slipway gitops
// reconcile`, runs it again over the unchanged commit, then makes more
// no-change passes in a controller of this process. It reports each
// pass's wall time, the peak RSS of the two command runs, and fails when
// a no-change pass writes to the API server (apiserver_request_total of
// the objects' group, dry runs apart, and every object's resourceVersion,
// before and after) or misses a target.
func BenchmarkNoChangePass(b *testing.B) {
	cl := connect(b)
	kc := kubetest.Cluster(b)
	ns := kubetest.Namespace(b, kc)
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := kc.Do(ctx, "DELETE", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/"+benchCRD, "", nil, nil); err != nil && !kubetest.IsNotFound(err) {
			b.Errorf("deleting the CRD: %v", err)
		}
	})
	bin := buildSlipway(b)
	repo := newOpsRepo(b, itemsFolder())
	dir := b.TempDir()
	config, state := filepath.Join(dir, "slipway-gitops.yaml"), filepath.Join(dir, "state")
	if err := os.WriteFile(config, []byte(gitopsConfig(repo.bare, "items", ns)), 0o644); err != nil {
		b.Fatal(err)
	}

	first := reconcileCmd(b, bin, config, state)
	b.Logf("first pass (creates %d objects), `slipway gitops reconcile`: %.2f s wall, peak RSS %.1f MiB (anonymous %.1f MiB, binary's pages %.1f MiB)",
		objectCount, first.wall.Seconds(), mib(first.rss), mib(first.anon), mib(first.file))
	if got := len(versions(b, cl, itemGVK, ns)); got != objectCount-1 {
		b.Fatalf("%d items on the cluster after the first pass, want %d", got, objectCount-1)
	}

	before, beforeDry, beforeDel := writes(b, cl, benchGroup)
	rvBefore := versions(b, cl, itemGVK, ns)
	second := reconcileCmd(b, bin, config, state)
	b.Logf("no-change pass, `slipway gitops reconcile` (process start, fetch, render, apply): %.2f s wall, peak RSS %.1f MiB (anonymous %.1f MiB, binary's pages %.1f MiB)",
		second.wall.Seconds(), mib(second.rss), mib(second.anon), mib(second.file))

	// The controller's own passes: a long-running `gitops run` or server
	// makes these at each interval.
	cfg, err := gitops.LoadConfig(config)
	if err != nil {
		b.Fatal(err)
	}
	c, err := gitops.New(gitops.Options{Config: cfg, StateDir: state, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close(context.Background())
	var times []time.Duration
	b.ResetTimer()
	for range *passes {
		start := time.Now()
		sts, err := c.ReconcileAll(context.Background())
		times = append(times, time.Since(start))
		if err != nil {
			b.Fatal(err)
		}
		for _, o := range sts[0].Objects {
			if o.Action != "unchanged" {
				b.Fatalf("no-change pass: %s %s", o.Ref, o.Action)
			}
		}
	}
	b.StopTimer()
	after, afterDry, afterDel := writes(b, cl, benchGroup)
	rvAfter := versions(b, cl, itemGVK, ns)

	changed := 0
	for name, rv := range rvBefore {
		if rvAfter[name] != rv {
			changed++
		}
	}
	med := median(times)
	b.ReportMetric(ms(med), "ms-nochange-pass")
	b.ReportMetric(second.wall.Seconds(), "s-nochange-cli")
	b.ReportMetric(mib(max(first.rss, second.rss)), "MiB-peak-rss")
	b.ReportMetric(mib(max(first.anon, second.anon)), "MiB-peak-anon")
	b.Logf("%d no-change passes over %d objects in the controller: median %.0f ms, min %.0f ms, max %.0f ms (target <= %s)",
		len(times), objectCount, ms(med), ms(times[0]), ms(times[len(times)-1]), maxNoChange)
	b.Logf("API server, group %s, during the %d no-change passes: writes %v, dry runs %v; resourceVersions changed: %d of %d",
		benchGroup, len(times)+1, delta(before, after), delta(beforeDry, afterDry), changed, len(rvBefore))
	b.Logf("peak RSS of `slipway gitops reconcile` at %d objects: %.1f MiB (target <= %d MiB)",
		objectCount, mib(max(first.rss, second.rss)), maxRSS>>20)
	if d := delta(before, after); len(d) > 0 || changed > 0 {
		b.Errorf("the no-change passes wrote to the API server: %v, %d resourceVersions changed", d, changed)
	}
	if d := delta(beforeDel, afterDel); len(d) > 0 {
		// The namespace controller empties other users' namespaces being
		// deleted of every kind, ours included; a delete of one of our
		// objects shows in the resourceVersions compared above.
		b.Logf("deletes in group %s meanwhile (not ours when no object went): %v", benchGroup, d)
	}
	if !maps.Equal(rvBefore, rvAfter) && changed == 0 {
		b.Errorf("objects appeared or went during the no-change passes: %d before, %d after", len(rvBefore), len(rvAfter))
	}
	if med > maxNoChange {
		b.Errorf("no-change pass: median %s, target <= %s", med.Round(time.Millisecond), maxNoChange)
	}
	if max(first.rss, second.rss) > maxRSS {
		b.Errorf("peak RSS %.1f MiB, target <= %d MiB (of which the binary's pages %.1f MiB)", mib(max(first.rss, second.rss)), maxRSS>>20, mib(max(first.file, second.file)))
	}
}

type cmdRun struct {
	wall time.Duration
	rss  int64 // peak resident set, bytes (the kernel's)
	// anon and file are the peaks of the resident set's anonymous part
	// (heap, stacks: the process's own memory) and of its file-backed
	// part (the binary's pages, shared and reclaimable), sampled.
	anon, file int64
}

// reconcileCmd runs `slipway gitops reconcile` and measures it.
func reconcileCmd(b *testing.B, bin, config, state string) cmdRun {
	b.Helper()
	var out testenv.Buffer
	cmd := exec.Command(bin, "gitops", "reconcile", "--config", config, "--state", state)
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	var run cmdRun
	done := make(chan error)
	go func() { done <- cmd.Wait() }()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			run.wall = time.Since(start)
			if err != nil {
				b.Fatalf("slipway gitops reconcile: %v\n%s", err, tail([]byte(out.String())))
			}
			run.rss = cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss << 10
			return run
		case <-tick.C:
			anon, file := rssSplit(cmd.Process.Pid)
			run.anon, run.file = max(run.anon, anon), max(run.file, file)
		}
	}
}

// rssSplit reads RssAnon and RssFile of a process, in bytes.
func rssSplit(pid int) (anon, file int64) {
	data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, line := range strings.Split(string(data), "\n") {
		k, v, _ := strings.Cut(line, ":")
		kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "RssAnon":
			anon = kb << 10
		case "RssFile":
			file = kb << 10
		}
	}
	return anon, file
}

func tail(out []byte) string {
	if len(out) > 4000 {
		return "..." + string(out[len(out)-4000:])
	}
	return string(out)
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }
