// Command kube-job measures a job run by the Kubernetes executor (`echo
// hi` in the busybox image the test cluster has) against `kubectl run --rm
// -i --restart=Never` of the same image and command, interleaving the two
// so that both see the same machine load; then the wall time of many such
// jobs through the engine at a given concurrency. Run it with
// bench/kube-job/run.sh.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/slipway-cd/slipway/internal/ci"
	"github.com/slipway-cd/slipway/internal/engine"
	"github.com/slipway-cd/slipway/internal/executor"
	"github.com/slipway-cd/slipway/internal/executor/kubernetes"
	"github.com/slipway-cd/slipway/internal/testenv/kubetest"
)

func main() {
	n := flag.Int("n", 5, "measured runs of each")
	warmup := flag.Int("warmup", 1, "unmeasured runs of each first")
	jobs := flag.Int("jobs", 20, "jobs of the concurrent run")
	concurrency := flag.Int("concurrency", 10, "the concurrent run's --concurrency")
	helperImage := flag.String("helper-image", "", "helper image on the node (default: build this checkout's slipway and import its image)")
	flag.Parse()
	if err := run(*n, *warmup, *jobs, *concurrency, *helperImage); err != nil {
		fmt.Fprintln(os.Stderr, "kube-job:", err)
		os.Exit(1)
	}
}

func run(n, warmup, jobs, concurrency int, helperImage string) error {
	ctx := context.Background()
	if helperImage == "" {
		var err error
		if helperImage, err = kubetest.BuildHelperImage(); err != nil {
			return err
		}
	}
	ns := fmt.Sprintf("kube-job-bench-%d", time.Now().UnixNano())
	e, err := kubernetes.New(ctx, kubernetes.Options{
		Kubeconfig: kubetest.Kubeconfig(), Namespace: "default", HelperImage: helperImage, Installation: "bench",
	})
	if err != nil {
		return err
	}
	if _, err := e.Client().CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		return err
	}
	defer e.Client().CoreV1().Namespaces().Delete(context.WithoutCancel(ctx), ns, metav1.DeleteOptions{})
	if e, err = kubernetes.New(ctx, kubernetes.Options{
		Kubeconfig: kubetest.Kubeconfig(), Namespace: ns, HelperImage: helperImage, Installation: "bench",
	}); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "kube-job-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	kubectl := func(i int) error {
		cmd := exec.Command("kubectl", "--kubeconfig", kubetest.Kubeconfig(), "-n", ns, "run", fmt.Sprintf("bare-%d", i),
			"--rm", "-i", "--restart=Never", "--image="+kubetest.BusyboxImage, "--image-pull-policy=Never", "--command", "--", "echo", "hi")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		// Its output may be lost: kubectl attaches after the start, and
		// echo can be done by then ("If you don't see a command prompt").
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("kubectl run: %v: %s %s", err, stdout.String(), stderr.String())
		}
		return nil
	}
	job := func(i int) error {
		var out bytes.Buffer
		res, err := e.Run(ctx, &executor.Spec{
			JobName: "bench", ID: fmt.Sprintf("slipway-0-%d", i), Dir: dir,
			Script: []string{"echo hi"}, Image: &ci.Image{Name: kubetest.BusyboxImage}, Output: &out,
		})
		if err != nil || res.ExitCode != 0 || !strings.Contains(out.String(), "\nhi\n") {
			return fmt.Errorf("job: %+v %v: %s", res, err, out.String())
		}
		return nil
	}
	var bareTimes, jobTimes []time.Duration
	for i := 0; i < warmup+n; i++ {
		for _, m := range []struct {
			f     func(int) error
			times *[]time.Duration
		}{{kubectl, &bareTimes}, {job, &jobTimes}} {
			start := time.Now()
			if err := m.f(i); err != nil {
				return err
			}
			if i >= warmup {
				*m.times = append(*m.times, time.Since(start))
			}
		}
	}
	b, j := median(bareTimes), median(jobTimes)
	fmt.Printf("cluster %s, %d runs each (after %d warm-up runs)\n", kubetest.Kubeconfig(), n, warmup)
	fmt.Printf("kubectl run --rm -i --restart=Never busybox echo hi  median %7.1f ms   min %7.1f ms\n", ms(b), ms(slices.Min(bareTimes)))
	fmt.Printf("kubernetes executor job: echo hi                    median %7.1f ms   min %7.1f ms\n", ms(j), ms(slices.Min(jobTimes)))
	fmt.Printf("ratio (median job / median kubectl run): %.2fx (target <= 1.30x)\n", float64(j)/float64(b))

	wall, err := many(ctx, e, jobs, concurrency)
	if err != nil {
		return err
	}
	fmt.Printf("%d jobs (echo hi) through the engine at concurrency %d: %.1f s wall, %.2f s per job\n",
		jobs, concurrency, wall.Seconds(), wall.Seconds()/float64(jobs))
	return nil
}

// many runs a pipeline of jobs parallel jobs at concurrency, as `slipway
// run --concurrency` does, and returns its wall time.
func many(ctx context.Context, e executor.Executor, jobs, concurrency int) (time.Duration, error) {
	repo, err := os.MkdirTemp("", "kube-job-repo")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(repo)
	if err := os.WriteFile(filepath.Join(repo, "README"), []byte("bench\n"), 0o644); err != nil {
		return 0, err
	}
	for _, args := range [][]string{{"init", "-q", "-b", "main"}, {"add", "-A"}, {"commit", "-q", "-m", "init"}} {
		cmd := exec.Command("git", append([]string{"-C", repo, "-c", "user.name=b", "-c", "user.email=b@example.com"}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			return 0, fmt.Errorf("git %v: %v: %s", args, err, out)
		}
	}
	plan := &ci.Plan{Stages: []string{"test"}}
	for i := range jobs {
		name := fmt.Sprintf("job-%02d", i)
		plan.Jobs = append(plan.Jobs, &ci.PlannedJob{Name: name, Stage: "test", When: ci.OnSuccess, Def: &ci.Job{
			Name: name, Stage: "test", Script: []string{"echo hi"}, Image: &ci.Image{Name: kubetest.BusyboxImage},
		}})
	}
	work, err := os.MkdirTemp("", "kube-job-work")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(work)
	start := time.Now()
	res, err := engine.Run(ctx, plan, engine.Options{Repo: repo, Commit: "HEAD", WorkDir: work, Executor: e, Concurrency: concurrency})
	if err != nil {
		return 0, err
	}
	wall := time.Since(start)
	if res.Status != engine.Success {
		for _, j := range res.Jobs {
			if j.Status != engine.Success {
				return 0, fmt.Errorf("job %s: %s %s", j.Name, j.Status, j.Detail)
			}
		}
		return 0, fmt.Errorf("pipeline %s", res.Status)
	}
	return wall, nil
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
