//go:build kube

package gateway

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwclient "sigs.k8s.io/gateway-api/pkg/client/clientset/versioned"

	"github.com/slipway-cd/slipway/internal/proxy/embedded"
	"github.com/slipway-cd/slipway/internal/testenv"
	"github.com/slipway-cd/slipway/internal/testenv/kubetest"
)

// installCRDs applies the Gateway API's standard CRDs that the controller
// watches, from the module go.mod pins. They stay installed: other tests
// of the cluster may use them at the same time.
func installCRDs(t *testing.T, c *kubetest.Client, gw gwclient.Interface) {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "sigs.k8s.io/gateway-api").Output()
	if err != nil {
		t.Fatalf("finding the gateway-api module: %v", err)
	}
	dir := filepath.Join(strings.TrimSpace(string(out)), "config", "crd", "standard")
	ctx := context.Background()
	for _, kind := range []string{"gatewayclasses", "gateways", "httproutes"} {
		name := kind + ".gateway.networking.k8s.io"
		b, err := os.ReadFile(filepath.Join(dir, "gateway.networking.k8s.io_"+kind+".yaml"))
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Apply(ctx, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/"+name, b); err != nil {
			t.Fatalf("applying CRD %s: %v", name, err)
		}
	}
	kubetest.Eventually(t, time.Minute, "Gateway API CRDs established", func(ctx context.Context) error {
		_, err := gw.GatewayV1().HTTPRoutes("default").List(ctx, metav1.ListOptions{Limit: 1})
		return err
	})
}

func clients(t *testing.T) (kubernetes.Interface, gwclient.Interface) {
	t.Helper()
	rc, err := clientcmd.BuildConfigFromFlags("", kubetest.Kubeconfig())
	if err != nil {
		t.Fatal(err)
	}
	kc, err := kubernetes.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	gc, err := gwclient.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	return kc, gc
}

// app applies a Deployment of busybox httpd answering "<name> <pod>" and
// a Service <name> on port 80 (named http) in front of it.
func app(t *testing.T, c *kubetest.Client, ns, name string, replicas int) {
	t.Helper()
	ctx := context.Background()
	deployment := fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: %[1]s}
spec:
  replicas: %[2]d
  selector: {matchLabels: {app: %[1]s}}
  template:
    metadata: {labels: {app: %[1]s}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: web
        image: %[3]s
        imagePullPolicy: Never
        command: [/bin/sh, -c, 'mkdir /www && echo "%[1]s $HOSTNAME" > /www/index.html && exec httpd -f -p 8080 -h /www']
        readinessProbe:
          tcpSocket: {port: 8080}
          periodSeconds: 1
`, name, replicas, kubetest.BusyboxImage)
	if err := c.Apply(ctx, "/apis/apps/v1/namespaces/"+ns+"/deployments/"+name, []byte(deployment)); err != nil {
		t.Fatal(err)
	}
	service := fmt.Sprintf(`apiVersion: v1
kind: Service
metadata: {name: %[1]s}
spec:
  selector: {app: %[1]s}
  ports: [{name: http, port: 80, targetPort: 8080}]
`, name)
	if err := c.Apply(ctx, "/api/v1/namespaces/"+ns+"/services/"+name, []byte(service)); err != nil {
		t.Fatal(err)
	}
}

func condTrue(conds []metav1.Condition, typ string) error {
	c := meta.FindStatusCondition(conds, typ)
	if c == nil {
		return fmt.Errorf("no %s condition", typ)
	}
	if c.Status != metav1.ConditionTrue {
		return fmt.Errorf("%s=%s (%s: %s)", typ, c.Status, c.Reason, c.Message)
	}
	return nil
}

// get sends a request for host through the proxy and returns the version
// that answered (the first word of the body).
func get(t *testing.T, proxyAddr, host string, header ...string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+proxyAddr+"/", nil)
	req.Host = host
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %q", host, resp.StatusCode, b)
	}
	return strings.Fields(string(b))[0]
}

func count(t *testing.T, proxyAddr, host string, n int, header ...string) map[string]int {
	seen := map[string]int{}
	for range n {
		seen[get(t, proxyAddr, host, header...)]++
	}
	return seen
}

// An HTTPRoute of a Gateway of Slipway's class, 90/10 between two
// Deployments of the real cluster, is served by the embedded proxy from
// the pods' addresses with that split; a header or a cookie sends the B
// side of an A/B test to v2 alone; SetWeights moves the split; every
// object gets the status the Gateway API asks for.
func TestHTTPRouteSplitsTrafficBetweenPodsByWeightHeaderAndCookie(t *testing.T) {
	c := kubetest.Cluster(t)
	kc, gc := clients(t)
	installCRDs(t, c, gc)
	ns := kubetest.Namespace(t, c)
	ctx := context.Background()
	app(t, c, ns, "app-v1", 2)
	app(t, c, ns, "app-v2", 1)

	class := "slipway-" + ns
	if err := c.Apply(ctx, "/apis/gateway.networking.k8s.io/v1/gatewayclasses/"+class, []byte(`apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: `+class+`}
spec: {controllerName: `+DefaultControllerName+`}
`)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = gc.GatewayV1().GatewayClasses().Delete(context.Background(), class, metav1.DeleteOptions{})
	})
	const host = "app.gateway.test"
	manifests := map[string]string{
		"gateways/gw": `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw}
spec:
  gatewayClassName: ` + class + `
  listeners: [{name: http, protocol: HTTP, port: 80}]
`,
		"httproutes/app": `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: app}
spec:
  parentRefs: [{name: gw}]
  hostnames: [` + host + `]
  rules:
  - matches:
    - headers: [{name: X-Variant, value: b}]
    - headers: [{type: RegularExpression, name: Cookie, value: '(^|;\s*)variant=b(;|$)'}]
    backendRefs: [{name: app-v2, port: 80}]
  - backendRefs:
    - {name: app-v1, port: 80, weight: 90}
    - {name: app-v2, port: 80, weight: 10}
`,
		"httproutes/broken": `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: broken}
spec:
  parentRefs: [{name: gw}]
  hostnames: [broken.gateway.test]
  rules: [{backendRefs: [{name: app-missing, port: 80}]}]
`,
	}
	for path, m := range manifests {
		if err := c.Apply(ctx, "/apis/gateway.networking.k8s.io/v1/namespaces/"+ns+"/"+path, []byte(m)); err != nil {
			t.Fatalf("applying %s: %v", path, err)
		}
	}

	router, err := embedded.Start(ctx, embedded.Config{Listen: testenv.FreeAddr(t), StorageDir: t.TempDir(), LogLevel: "ERROR", GracePeriod: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { router.Close() })
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- New(kc, gc, router, Config{Address: "127.0.0.1"}).Run(runCtx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Error(err)
		}
		if routes, _ := router.List(context.Background()); len(routes) != 0 {
			t.Errorf("the stopped controller left %d routes in the proxy", len(routes))
		}
	})

	kubetest.Eventually(t, 2*time.Minute, "HTTPRoute app accepted with its refs resolved", func(ctx context.Context) error {
		hr, err := gc.GatewayV1().HTTPRoutes(ns).Get(ctx, "app", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if len(hr.Status.Parents) != 1 {
			return fmt.Errorf("status.parents: %d, want 1", len(hr.Status.Parents))
		}
		p := hr.Status.Parents[0]
		if string(p.ControllerName) != DefaultControllerName {
			return fmt.Errorf("controllerName %s", p.ControllerName)
		}
		if err := condTrue(p.Conditions, string(gwv1.RouteConditionAccepted)); err != nil {
			return err
		}
		return condTrue(p.Conditions, string(gwv1.RouteConditionResolvedRefs))
	})
	gcl, err := gc.GatewayV1().GatewayClasses().Get(ctx, class, metav1.GetOptions{})
	if err != nil || condTrue(gcl.Status.Conditions, "Accepted") != nil {
		t.Errorf("GatewayClass %s: %v, conditions %+v; want Accepted", class, err, gcl.Status.Conditions)
	}
	kubetest.Eventually(t, time.Minute, "Gateway gw programmed with 2 routes attached", func(ctx context.Context) error {
		g, err := gc.GatewayV1().Gateways(ns).Get(ctx, "gw", metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, typ := range []string{"Accepted", "Programmed"} {
			if err := condTrue(g.Status.Conditions, typ); err != nil {
				return err
			}
		}
		if len(g.Status.Listeners) != 1 || g.Status.Listeners[0].AttachedRoutes != 2 {
			return fmt.Errorf("listeners %+v, want http with 2 attached routes", g.Status.Listeners)
		}
		return condTrue(g.Status.Listeners[0].Conditions, "Programmed")
	})
	kubetest.Eventually(t, time.Minute, "HTTPRoute broken: ResolvedRefs=False BackendNotFound", func(ctx context.Context) error {
		hr, err := gc.GatewayV1().HTTPRoutes(ns).Get(ctx, "broken", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if len(hr.Status.Parents) != 1 {
			return fmt.Errorf("status.parents: %d", len(hr.Status.Parents))
		}
		rc := meta.FindStatusCondition(hr.Status.Parents[0].Conditions, "ResolvedRefs")
		if rc == nil || rc.Status != metav1.ConditionFalse || rc.Reason != string(gwv1.RouteReasonBackendNotFound) {
			return fmt.Errorf("ResolvedRefs %+v", rc)
		}
		return nil
	})
	// The pods become ready after the route is accepted: the proxy has
	// every endpoint once all three answer.
	kubetest.Eventually(t, 2*time.Minute, "all 3 pods behind the route", func(ctx context.Context) error {
		routes, err := router.List(ctx)
		if err != nil {
			return err
		}
		addrs := map[string]bool{}
		for _, rt := range routes {
			for _, u := range rt.Upstreams {
				addrs[u.Addr] = true
			}
		}
		if len(addrs) != 3 {
			return fmt.Errorf("%d pod addresses in the proxy's routes, want 3", len(addrs))
		}
		return nil
	})

	const n = 1000
	seen := count(t, router.Addr(), host, n)
	// Expected 100 for v2, standard deviation about 9.5.
	if seen["app-v2"] < 60 || seen["app-v2"] > 150 || seen["app-v1"]+seen["app-v2"] != n {
		t.Fatalf("90/10 route: %v of %d requests, want about %d for app-v2", seen, n, n/10)
	}
	t.Logf("90/10 HTTPRoute, %d requests: %v", n, seen)
	if seen := count(t, router.Addr(), host, 50, "X-Variant", "b"); seen["app-v2"] != 50 {
		t.Errorf("with X-Variant: b: %v, want app-v2 only", seen)
	}
	if seen := count(t, router.Addr(), host, 50, "Cookie", "session=x; variant=b"); seen["app-v2"] != 50 {
		t.Errorf("with the cookie variant=b: %v, want app-v2 only", seen)
	}
	if seen := count(t, router.Addr(), host, 50, "Cookie", "variant=a"); seen["app-v1"] < 30 {
		t.Errorf("with the cookie variant=a: %v, want the 90/10 split", seen)
	}

	if err := SetWeights(ctx, gc, ns, "app", map[string]int32{"app-v1": 0, "app-v2": 100}); err != nil {
		t.Fatal(err)
	}
	kubetest.Eventually(t, time.Minute, "all traffic on app-v2 after SetWeights", func(ctx context.Context) error {
		if seen := count(t, router.Addr(), host, 50); seen["app-v2"] != 50 {
			return fmt.Errorf("%v", seen)
		}
		return nil
	})
	hr, err := gc.GatewayV1().HTTPRoutes(ns).Get(ctx, "app", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	managers := []string{}
	for _, mf := range hr.ManagedFields {
		managers = append(managers, mf.Manager+"/"+string(mf.Operation))
	}
	if !strings.Contains(strings.Join(managers, " "), FieldManager+"/Apply") {
		t.Errorf("managed fields %v, want %s's apply", managers, FieldManager)
	}
	if len(hr.Spec.Hostnames) != 1 || len(hr.Spec.ParentRefs) != 1 || len(hr.Spec.Rules) != 2 {
		t.Errorf("SetWeights changed more than weights: %+v", hr.Spec)
	}
	if err := SetWeights(ctx, gc, ns, "app", map[string]int32{"app-v3": 5}); err == nil || !strings.Contains(err.Error(), "app-v3") {
		t.Errorf("SetWeights of a Service the route does not name: %v, want an error naming it", err)
	}
}
