//go:build kube

package kubernetes_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/slipway-cd/slipway/internal/ci"
	"github.com/slipway-cd/slipway/internal/engine"
	"github.com/slipway-cd/slipway/internal/executor"
	"github.com/slipway-cd/slipway/internal/executor/kubernetes"
	"github.com/slipway-cd/slipway/internal/owner"
	"github.com/slipway-cd/slipway/internal/registry"
	"github.com/slipway-cd/slipway/internal/testenv"
	"github.com/slipway-cd/slipway/internal/testenv/kubetest"
	"github.com/slipway-cd/slipway/internal/workspace"
)

// newExecutor is an executor on the test cluster, in a fresh namespace.
func newExecutor(t *testing.T, change func(*kubernetes.Options)) *kubernetes.Executor {
	t.Helper()
	c := kubetest.Cluster(t)
	opts := kubernetes.Options{
		Kubeconfig:   kubetest.Kubeconfig(),
		Namespace:    kubetest.Namespace(t, c),
		HelperImage:  kubetest.HelperImage(t),
		Installation: "test",
		PullPolicy:   "IfNotPresent",
	}
	if change != nil {
		change(&opts)
	}
	e, err := kubernetes.New(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// spec is a busybox job with a fresh working copy.
func spec(t *testing.T, script ...string) *executor.Spec {
	return &executor.Spec{
		JobName: t.Name(),
		ID:      fmt.Sprintf("slipway-%d-1", time.Now().UnixNano()),
		Dir:     t.TempDir(),
		Script:  script,
		Image:   &ci.Image{Name: kubetest.BusyboxImage},
		Output:  &testenv.Buffer{},
	}
}

func logOf(s *executor.Spec) string { return s.Output.(*testenv.Buffer).String() }

// pods lists the pods of the executor's namespace.
func pods(t *testing.T, e *kubernetes.Executor) []corev1.Pod {
	t.Helper()
	list, err := e.Client().CoreV1().Pods(e.Namespace()).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return list.Items
}

// waitNoPods waits until the namespace has no pod left.
func waitNoPods(t *testing.T, e *kubernetes.Executor) {
	t.Helper()
	kubetest.Eventually(t, time.Minute, "the job's pod is deleted", func(ctx context.Context) error {
		if left := pods(t, e); len(left) > 0 {
			return fmt.Errorf("pods left: %s (%s)", left[0].Name, left[0].Status.Phase)
		}
		return nil
	})
}

// TestPipelineOfPods runs a real pipeline through the engine: a job in the
// image with a service reached by its alias and localhost, with the
// service's variables; its artifacts, cache and dotenv report reach the
// next job, which runs in another pod.
func TestPipelineOfPods(t *testing.T) {
	e := newExecutor(t, nil)
	repo := testenv.GitRepo(t, map[string]string{
		"VERSION": "1.2.3\n",
		".gitlab-ci.yml": `
stages: [build, check]
build:
  stage: build
  image: ` + kubetest.BusyboxImage + `
  services:
    - name: ` + kubetest.BusyboxImage + `
      alias: web
      entrypoint: ["sh", "-c"]
      command: ['mkdir -p /www && echo "pong $GREETING" > /www/index.html && exec httpd -f -p 8080 -h /www']
      variables:
        GREETING: from the service
  cache:
    key: deps
    paths: [.deps/]
  script:
    - until wget -q -O page http://web:8080/; do sleep 0.2; done
    - cat page
    - wget -q -O - http://localhost:8080/
    - mkdir -p dist .deps && echo "app $(cat VERSION)" > dist/app && echo fetched > .deps/lib
    - echo "BUILT_IN=$(hostname)" > build.env
    - pwd
  artifacts:
    paths: [dist/]
    reports:
      dotenv: build.env
check:
  stage: check
  image: ` + kubetest.BusyboxImage + `
  cache:
    key: deps
    paths: [.deps/]
    policy: pull
  script:
    - cat dist/app
    - cat .deps/lib
    - echo "built in $BUILT_IN, checked in $(hostname)"
`,
	})
	cfg, err := workspace.LoadPipeline(context.Background(), repo, "HEAD", ".gitlab-ci.yml")
	if err != nil {
		t.Fatal(err)
	}
	sha := testenv.Git(t, repo, "rev-parse", "HEAD")
	plan, err := ci.NewPlan(cfg, ci.Context{Predefined: ci.Predefined(ci.PipelineInfo{Branch: "main", Source: "push", SHA: sha})})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	logs := map[string]*strings.Builder{}
	res, err := engine.Run(context.Background(), plan, engine.Options{
		Repo: repo, Commit: "HEAD", WorkDir: t.TempDir(), Executor: e,
		Events: func(ev engine.Event) {
			if ev.Kind != engine.JobLog {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if logs[ev.Job] == nil {
				logs[ev.Job] = &strings.Builder{}
			}
			logs[ev.Job].WriteString(ev.Line + "\n")
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if res.Status != engine.Success {
		for name, l := range logs {
			t.Logf("%s:\n%s", name, l)
		}
		t.Fatalf("pipeline %s", res.Status)
	}
	build, check := logs["build"].String(), logs["check"].String()
	for _, want := range []string{"$ cat page\npong from the service\n", "pong from the service\n$ mkdir", "$ pwd\n/builds/project\n"} {
		if !strings.Contains(build, want) {
			t.Errorf("build log lacks %q:\n%s", want, build)
		}
	}
	for _, want := range []string{"$ cat dist/app\napp 1.2.3\n", "$ cat .deps/lib\nfetched\n", "built in slipway-"} {
		if !strings.Contains(check, want) {
			t.Errorf("check log lacks %q:\n%s", want, check)
		}
	}
	waitNoPods(t, e)
}

func TestExitCodeAndAfterScriptAfterAFailure(t *testing.T) {
	e := newExecutor(t, nil)
	s := spec(t, "echo before > state", "exit 7", "echo never")
	s.AfterScript = []string{`echo "after: $CI_JOB_STATUS, $(cat state), in $(pwd)"`}
	res, err := e.Run(context.Background(), s)
	if err != nil || res.ExitCode != 7 || res.SystemFailure {
		t.Fatalf("Run = %+v, %v; want exit code 7; log:\n%s", res, err, logOf(s))
	}
	log := logOf(s)
	if strings.Contains(log, "never") && !strings.Contains(log, "$ echo never") {
		t.Errorf("the script went on after exit 7:\n%s", log)
	}
	if !strings.Contains(log, "after: failed, before, in /builds/project\n") {
		t.Errorf("after_script did not run after the failure with the job's files:\n%s", log)
	}
	waitNoPods(t, e)
}

// TestCancelDeletesThePod: the pod goes when the job is canceled while
// its script runs, and the script's processes with it.
func TestCancelDeletesThePod(t *testing.T) {
	e := newExecutor(t, nil)
	s := spec(t, "echo started", "sleep 600")
	s.AfterScript = []string{"echo after"}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var res executor.Result
	var err error
	done := make(chan struct{})
	go func() {
		defer close(done)
		res, err = e.Run(ctx, s)
	}()
	kubetest.Eventually(t, 2*time.Minute, "the script runs", func(context.Context) error {
		if !strings.Contains(logOf(s), "$ sleep 600") {
			return fmt.Errorf("log so far:\n%s", logOf(s))
		}
		return nil
	})
	if len(pods(t, e)) != 1 {
		t.Fatalf("want the job's pod while it runs")
	}
	cancel()
	<-done
	if !errors.Is(err, context.Canceled) || res.ExitCode != -1 {
		t.Errorf("Run = %+v, %v; want -1 and context.Canceled", res, err)
	}
	if !strings.Contains(logOf(s), "the job's pod was deleted") {
		t.Errorf("the log does not say the pod went:\n%s", logOf(s))
	}
	waitNoPods(t, e)
}

// TestTimeoutDeletesThePod: a job whose timeout passes (before or after its
// pod started, on a loaded machine) ends with its pod.
func TestTimeoutDeletesThePod(t *testing.T) {
	e := newExecutor(t, nil)
	s := spec(t, "sleep 600")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := e.Run(ctx, s)
	if !errors.Is(err, context.DeadlineExceeded) || res.ExitCode != -1 {
		t.Errorf("Run = %+v, %v; want -1 and context.DeadlineExceeded; log:\n%s", res, err, logOf(s))
	}
	waitNoPods(t, e)
}

// TestResourceVariablesReachThePodSpec: KUBERNETES_* variables overwrite
// the configured requests and limits, up to the configured maximums.
func TestResourceVariablesReachThePodSpec(t *testing.T) {
	e := newExecutor(t, func(o *kubernetes.Options) {
		o.Resources.Build = kubernetes.Resources{CPURequest: "10m", MemoryLimit: "64Mi"}
		o.Resources.Helper = kubernetes.Resources{CPURequest: "5m"}
		o.MaxOverwrite.Build = kubernetes.Resources{CPURequest: "1", CPULimit: "1", MemoryRequest: "256Mi", MemoryLimit: "256Mi"}
		o.MaxOverwrite.Helper = kubernetes.Resources{MemoryLimit: "128Mi"}
	})
	s := spec(t, "echo running", "sleep 600")
	s.Env = []string{"KUBERNETES_CPU_REQUEST=100m", "KUBERNETES_MEMORY_LIMIT=200Mi", "KUBERNETES_HELPER_MEMORY_LIMIT=100Mi"}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = e.Run(ctx, s)
	}()
	defer func() { cancel(); <-done; waitNoPods(t, e) }()
	kubetest.Eventually(t, 2*time.Minute, "the script runs", func(context.Context) error {
		if !strings.Contains(logOf(s), "$ sleep 600") {
			return fmt.Errorf("log so far:\n%s", logOf(s))
		}
		return nil
	})
	running := pods(t, e)
	if len(running) != 1 {
		t.Fatalf("%d pods, want the job's", len(running))
	}
	got := map[string]string{}
	for _, c := range running[0].Spec.Containers {
		r := c.Resources
		got[c.Name] = fmt.Sprintf("cpu %s/%s memory %s/%s", r.Requests.Cpu(), r.Limits.Cpu(), r.Requests.Memory(), r.Limits.Memory())
	}
	// Kubernetes makes a limit without a request the request too.
	want := map[string]string{
		"build":  "cpu 100m/0 memory 200Mi/200Mi",
		"helper": "cpu 5m/0 memory 100Mi/100Mi",
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("container %s: %s, want %s", name, got[name], w)
		}
	}
}

func TestResourceVariableAboveItsMaximumIsAnError(t *testing.T) {
	e := newExecutor(t, func(o *kubernetes.Options) {
		o.MaxOverwrite.Build = kubernetes.Resources{MemoryLimit: "512Mi"}
	})
	for variable, want := range map[string]string{
		"KUBERNETES_MEMORY_LIMIT=1Gi": `KUBERNETES_MEMORY_LIMIT "1Gi": above the allowed maximum 512Mi (max_overwrite.build.memory_limit)`,
		"KUBERNETES_CPU_LIMIT=1":      "KUBERNETES_CPU_LIMIT: overwriting it is not allowed (max_overwrite.build.cpu_limit is not configured)",
	} {
		s := spec(t, "echo never")
		s.Env = []string{variable}
		res, err := e.Run(context.Background(), s)
		if err == nil || !strings.Contains(err.Error(), want) || res.SystemFailure {
			t.Errorf("%s: Run = %+v, %v; want a configuration error %q", variable, res, err, want)
		}
	}
	if left := pods(t, e); len(left) > 0 {
		t.Errorf("a pod was made: %s", left[0].Name)
	}
}

// TestUnschedulableJobFailsWithTheSchedulersReason: a job asking more CPU
// than any node has fails after start_timeout, saying why, and its pod goes.
func TestUnschedulableJobFailsWithTheSchedulersReason(t *testing.T) {
	e := newExecutor(t, func(o *kubernetes.Options) {
		o.MaxOverwrite.Build = kubernetes.Resources{CPURequest: "1000"}
		o.StartTimeout = 5 * time.Second
	})
	s := spec(t, "echo never")
	s.Env = []string{"KUBERNETES_CPU_REQUEST=500"}
	res, err := e.Run(context.Background(), s)
	if err == nil || !res.SystemFailure {
		t.Fatalf("Run = %+v, %v; want a failure", res, err)
	}
	for _, want := range []string{"did not start within 5s", "not scheduled: Unschedulable", "Insufficient cpu"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	waitNoPods(t, e)
}

// TestNewDeletesThePodsOfGoneProcesses: pods a killed Slipway left are
// deleted by the next executor; those of live processes stay.
func TestNewDeletesThePodsOfGoneProcesses(t *testing.T) {
	e := newExecutor(t, nil)
	host, _ := os.Hostname()
	create := func(name, by string) {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{kubernetes.LabelManaged: "true"}, Annotations: map[string]string{kubernetes.AnnotationOwner: by}},
			Spec: corev1.PodSpec{
				Containers: []corev1.Container{{Name: "c", Image: kubetest.BusyboxImage, ImagePullPolicy: corev1.PullNever, Command: []string{"sleep", "600"}}},
			},
		}
		if _, err := e.Client().CoreV1().Pods(e.Namespace()).Create(context.Background(), pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	create("left-by-dead", fmt.Sprintf("%s/%d/1", host, dead.Process.Pid))
	create("of-a-live-one", owner.This())
	if _, err := kubernetes.New(context.Background(), kubernetes.Options{Kubeconfig: kubetest.Kubeconfig(), Namespace: e.Namespace(), HelperImage: "unused"}); err != nil {
		t.Fatal(err)
	}
	kubetest.Eventually(t, time.Minute, "the dead process's pod is deleted", func(context.Context) error {
		var names []string
		for _, p := range pods(t, e) {
			if p.DeletionTimestamp == nil {
				names = append(names, p.Name)
			}
		}
		if len(names) != 1 || names[0] != "of-a-live-one" {
			return fmt.Errorf("pods: %v", names)
		}
		return nil
	})
}

// TestImageFromSlipwaysRegistryPullsWithTheJobsToken: the job's image is
// in a registry (Slipway's, behind a password check) that only lets the
// job's own credentials pull; the node pulls it with them, and the secret
// holding them goes with the pod. Without them the job fails with the
// kubelet's reason.
func TestImageFromSlipwaysRegistryPullsWithTheJobsToken(t *testing.T) {
	e := newExecutor(t, func(o *kubernetes.Options) { o.PullPolicy = "Always" })
	reg, err := registry.New(context.Background(), registry.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Close() })
	const user, token = "slipway-ci-token", "job-token-5f3a9c"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != user || p != token {
			w.Header().Set("WWW-Authenticate", `Basic realm="slipway"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	img, err := kubetest.BusyboxOCIImage()
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.NewTag(host+"/shop/busybox:1", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, remote.WithAuth(&authn.Basic{Username: user, Password: token})); err != nil {
		t.Fatal(err)
	}

	s := spec(t, "echo pulled with the token")
	s.Image = &ci.Image{Name: ref.String()}
	s.Env = []string{"CI_REGISTRY=" + host, "CI_REGISTRY_USER=" + user, "CI_REGISTRY_PASSWORD=" + token}
	res, err := e.Run(context.Background(), s)
	if err != nil || res.ExitCode != 0 || !strings.Contains(logOf(s), "\npulled with the token\n") {
		t.Fatalf("Run = %+v, %v; log:\n%s", res, err, logOf(s))
	}

	s = spec(t, "echo never")
	s.Image = &ci.Image{Name: ref.String()}
	res, err = e.Run(context.Background(), s)
	if err == nil || !res.SystemFailure || !strings.Contains(err.Error(), "ErrImagePull") && !strings.Contains(err.Error(), "ImagePullBackOff") {
		t.Errorf("without the job's credentials: Run = %+v, %v; want the pull's failure", res, err)
	}
	waitNoPods(t, e)
	secrets, err := e.Client().CoreV1().Secrets(e.Namespace()).List(context.Background(), metav1.ListOptions{LabelSelector: kubernetes.LabelManaged + "=true"})
	if err != nil || len(secrets.Items) > 0 {
		t.Errorf("registry secrets left: %v %v", secrets, err)
	}
}
