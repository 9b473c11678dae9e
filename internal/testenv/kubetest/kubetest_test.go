//go:build kube

// The cluster tests run with -tags kube after scripts/kube.sh up, as
// scripts/test.sh does (the cluster's first build on a machine takes minutes).

package kubetest

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// podTimeout is generous: on a loaded two-core machine a pod start (sandbox,
// network, container) can take many seconds.
const podTimeout = 3 * time.Minute

type podStatus struct {
	Status struct {
		Phase             string `json:"phase"`
		PodIP             string `json:"podIP"`
		ContainerStatuses []struct {
			State struct {
				Terminated *struct {
					ExitCode int `json:"exitCode"`
				} `json:"terminated"`
			} `json:"state"`
		} `json:"containerStatuses"`
	} `json:"status"`
}

// runPod starts a pod that runs script in busybox once and waits until it
// ended; it returns the pod's status.
func runPod(t *testing.T, c *Client, ns, name, script string) podStatus {
	t.Helper()
	manifest := fmt.Sprintf(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":%q},
"spec":{"restartPolicy":"Never","containers":[{"name":"job","image":%q,"imagePullPolicy":"Never",
"command":["/bin/sh","-c",%q],"env":[{"name":"POD_NAME","valueFrom":{"fieldRef":{"fieldPath":"metadata.name"}}}]}]}}`,
		name, BusyboxImage, script)
	path := "/api/v1/namespaces/" + ns + "/pods/" + name
	ctx := context.Background()
	if err := c.Apply(ctx, path, []byte(manifest)); err != nil {
		t.Fatalf("creating pod: %v", err)
	}
	var pod podStatus
	Eventually(t, podTimeout, "pod "+name+" ends", func(ctx context.Context) error {
		if err := c.Do(ctx, http.MethodGet, path, "", nil, &pod); err != nil {
			return err
		}
		if p := pod.Status.Phase; p != "Succeeded" && p != "Failed" {
			return fmt.Errorf("phase %q", p)
		}
		return nil
	})
	return pod
}

func TestPodRunsBusyboxEcho(t *testing.T) {
	c := Cluster(t)
	ns := Namespace(t, c)

	pod := runPod(t, c, ns, "echo", `echo "hello from $POD_NAME"`)
	if pod.Status.Phase != "Succeeded" {
		t.Fatalf("phase = %q, want Succeeded", pod.Status.Phase)
	}
	logs, err := c.Logs(context.Background(), ns, "echo", "")
	if err != nil {
		t.Fatal(err)
	}
	if logs != "hello from echo\n" {
		t.Errorf("log = %q, want %q", logs, "hello from echo\n")
	}
}

func TestPodExitCodeIsReported(t *testing.T) {
	c := Cluster(t)
	ns := Namespace(t, c)

	pod := runPod(t, c, ns, "fails", "echo about to fail >&2; exit 3")
	if pod.Status.Phase != "Failed" {
		t.Fatalf("phase = %q, want Failed", pod.Status.Phase)
	}
	if n := len(pod.Status.ContainerStatuses); n != 1 || pod.Status.ContainerStatuses[0].State.Terminated == nil {
		t.Fatalf("container statuses = %+v, want one terminated container", pod.Status.ContainerStatuses)
	}
	if code := pod.Status.ContainerStatuses[0].State.Terminated.ExitCode; code != 3 {
		t.Errorf("exit code = %d, want 3", code)
	}
	logs, err := c.Logs(context.Background(), ns, "fails", "")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs, "about to fail") {
		t.Errorf("log = %q, want the container's stderr", logs)
	}
}

// TestDeploymentServesAcrossPods applies a Deployment of two busybox web
// servers and fetches a page from one of them out of another pod: the
// controller manager, the scheduler, the kubelet and the pod network all work.
func TestDeploymentServesAcrossPods(t *testing.T) {
	c := Cluster(t)
	ns := Namespace(t, c)
	ctx := context.Background()

	deployment := `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 1 # httpd as PID 1 ignores SIGTERM
      containers:
      - name: web
        image: ` + BusyboxImage + `
        imagePullPolicy: Never
        command: [/bin/sh, -c, 'mkdir /www && echo "served by $HOSTNAME" > /www/index.html && exec httpd -f -p 8080 -h /www']
        readinessProbe:
          tcpSocket: {port: 8080}
          periodSeconds: 1
`
	path := "/apis/apps/v1/namespaces/" + ns + "/deployments/web"
	if err := c.Apply(ctx, path, []byte(deployment)); err != nil {
		t.Fatalf("applying deployment: %v", err)
	}
	Eventually(t, podTimeout, "deployment web available", func(ctx context.Context) error {
		var d struct {
			Status struct {
				AvailableReplicas int `json:"availableReplicas"`
			} `json:"status"`
		}
		if err := c.Do(ctx, http.MethodGet, path, "", nil, &d); err != nil {
			return err
		}
		if d.Status.AvailableReplicas != 2 {
			return fmt.Errorf("%d of 2 replicas available", d.Status.AvailableReplicas)
		}
		return nil
	})

	var pods struct {
		Items []struct {
			Metadata struct{ Name string } `json:"metadata"`
			podStatus
		} `json:"items"`
	}
	if err := c.Do(ctx, http.MethodGet, "/api/v1/namespaces/"+ns+"/pods?labelSelector=app%3Dweb", "", nil, &pods); err != nil {
		t.Fatal(err)
	}
	if len(pods.Items) != 2 {
		t.Fatalf("%d pods, want 2", len(pods.Items))
	}
	target := pods.Items[0]
	if target.Status.PodIP == "" {
		t.Fatalf("pod %s has no IP", target.Metadata.Name)
	}

	// No -T: Debian's busybox-static 1.35 wget segfaults with a timeout,
	// on the host as well. A broken network fails by podTimeout instead.
	client := runPod(t, c, ns, "fetch", "wget -q -O - http://"+target.Status.PodIP+":8080/")
	logs, err := c.Logs(ctx, ns, "fetch", "")
	if err != nil {
		t.Fatal(err)
	}
	want := "served by " + target.Metadata.Name + "\n"
	if client.Status.Phase != "Succeeded" || logs != want {
		t.Errorf("fetch from %s: phase %s, log %q; want Succeeded and %q",
			target.Status.PodIP, client.Status.Phase, logs, want)
	}
}

func TestNewClientNamesTheBrokenPart(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name, kubeconfig, want string
	}{
		{"no context", "current-context: nowhere\n", `current-context "nowhere" names no context`},
		{"no server", "current-context: a\ncontexts: [{name: a, context: {cluster: c, user: u}}]\n", `cluster "c" has no server`},
		{"missing CA file", "current-context: a\ncontexts: [{name: a, context: {cluster: c, user: u}}]\n" +
			"clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1', certificate-authority: ca.crt}}]\n",
			"cluster c: certificate-authority: open " + filepath.Join(dir, "ca.crt")},
		{"not yaml", "current-context: [\n", "yaml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := write("config", tc.kubeconfig)
			_, err := NewClient(p)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), p) {
				t.Errorf("NewClient error = %v; want it to name %s and say %q", err, p, tc.want)
			}
		})
	}
}

// BenchmarkPodRun measures what a Kubernetes executor pays per job at least:
// create a pod that runs echo, wait until it ended, read its log.
func BenchmarkPodRun(b *testing.B) {
	c := Cluster(b)
	ns := Namespace(b, c)
	ctx := context.Background()
	for i := 0; b.Loop(); i++ {
		name := fmt.Sprintf("bench-%d", i)
		manifest := fmt.Sprintf(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":%q},
"spec":{"restartPolicy":"Never","containers":[{"name":"job","image":%q,"imagePullPolicy":"Never","command":["echo","done"]}]}}`,
			name, BusyboxImage)
		path := "/api/v1/namespaces/" + ns + "/pods/" + name
		if err := c.Apply(ctx, path, []byte(manifest)); err != nil {
			b.Fatal(err)
		}
		Eventually(b, podTimeout, "pod "+name+" ends", func(ctx context.Context) error {
			var pod podStatus
			if err := c.Do(ctx, http.MethodGet, path, "", nil, &pod); err != nil {
				return err
			}
			if pod.Status.Phase != "Succeeded" {
				return fmt.Errorf("phase %q", pod.Status.Phase)
			}
			return nil
		})
		if logs, err := c.Logs(ctx, ns, name, ""); err != nil || logs != "done\n" {
			b.Fatalf("log %q, %v", logs, err)
		}
	}
}
