//go:build kube

package kubehost_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/slipway-cd/slipway/internal/deploy"
	"github.com/slipway-cd/slipway/internal/testenv/kubetest"
)

// badCompose answers / from a CGI script (busybox httpd runs
// /cgi-bin/index.cgi when a directory has no index.html): $STATUS and
// $MARK after $DELAY seconds. Its health page is static, so the version
// starts Ready and only its users see it is bad.
const badCompose = `
services:
  web:
    image: ` + kubetest.BusyboxImage + `
    command: [-c, 'mkdir -p /www/cgi-bin && echo ok > /www/health.html && printf "%s\n" "$$CGI" > /www/cgi-bin/index.cgi && chmod +x /www/cgi-bin/index.cgi && exec httpd -f -p 8080 -h /www']
    environment:
      MARK: "${MARK}"
      STATUS: "${STATUS}"
      DELAY: "${DELAY}"
      CGI: |
        #!/bin/sh
        sleep "$$DELAY"
        printf 'Status: %s\r\n\r\n%s\n' "$$STATUS" "$$MARK"
    x-slipway: {expose: true, main: true, port: 8080, health: /health.html}
`

// A canary that answers 500s, and one whose requests time out, are rolled
// back within the analysis budget while clients ask through the proxy:
// users saw the canary's failures only, only until the rollback, and the
// stable version alone afterwards.
func TestCanaryOfABadVersionIsRolledBackOnTheCluster(t *testing.T) {
	for _, bad := range []struct {
		name, status, delay string
		// seen is how users saw the canary's answers.
		seen string
	}{
		{"500s", "500", "0", "Internal Server Error bad"},
		{"timeouts", "200", "30", "error"},
	} {
		t.Run(bad.name, func(t *testing.T) {
			f, runner := rolloutFixture(t)
			ctx := context.Background()
			name := "bad-" + bad.name + "-" + f.installation
			first, err := runner.Run(ctx, f.target(t, name, "v1", deploy.Strategy{Kind: deploy.Rolling}))
			if err != nil {
				t.Fatal(err)
			}
			s := deploy.Strategy{Kind: deploy.Canary, Steps: []int{20, 50, 100}, Interval: 2 * time.Second, Drain: 200 * time.Millisecond,
				Analysis: deploy.Analysis{SuccessRate: 0.99, MinRequests: 1, MaxFailedChecks: 2}}
			tg := f.targetOf(t, name, badCompose, map[string]string{"MARK": "bad", "STATUS": bad.status, "DELAY": bad.delay}, s)
			host := tg.Env() + "." + domain
			f.serves(t, host, "/", "v1")

			// Users who give up after a second, as a browser's user would.
			users := &http.Client{Timeout: time.Second}
			l := f.loadWith(t, host, 3, users)
			l.waitFor(t, 20)
			ro, err := runner.Run(ctx, tg)
			counts := l.Stop()
			if !errors.Is(err, deploy.ErrRolledBack) || ro.Outcome != deploy.RolledBack {
				t.Fatalf("canary of the bad version: %+v, %v; want rolled back", ro, err)
			}
			if len(ro.Checks) != s.Analysis.MaxFailedChecks || ro.Checks[1].Weight != 20 || !strings.Contains(ro.Reason, "errors of") {
				t.Fatalf("checks %+v (reason %q): want %d failed at weight 20, by their errors", ro.Checks, ro.Reason, s.Analysis.MaxFailedChecks)
			}
			for _, c := range ro.Checks {
				if c.Passed {
					t.Fatalf("check %+v of the bad version passed", c)
				}
			}

			// What users saw: the stable version, and the canary's share
			// of failures until the rollback.
			if failures(counts, "v1") != counts[bad.seen] || counts[bad.seen] == 0 {
				t.Fatalf("answers during the canary: %v; want 200 v1 and %q only", counts, bad.seen)
			}
			if share := float64(counts[bad.seen]) / float64(counts[bad.seen]+counts["OK v1"]); share > 0.4 {
				t.Errorf("the canary at weight 20 failed %.0f%% of the requests: %v", 100*share, counts)
			}
			// Failures for no longer than the checks that judged them (and
			// the last requests' timeout).
			budget := time.Duration(s.Analysis.MaxFailedChecks)*s.Interval + users.Timeout + time.Second
			if seen := l.last[bad.seen].Sub(l.first[bad.seen]); seen > budget {
				t.Errorf("users saw failures for %v, want at most %v (%d checks of %v)", seen, budget, s.Analysis.MaxFailedChecks, s.Interval)
			} else {
				t.Logf("users saw %d failures of %d answers for %v; rollout took %v; checks %+v",
					counts[bad.seen], counts[bad.seen]+counts["OK v1"], seen.Round(time.Millisecond), ro.Finished.Sub(ro.Started).Round(time.Millisecond), ro.Checks)
			}

			// After the rollback: v1 alone, on the cluster and for users.
			after := f.loadWith(t, host, 3, users)
			after.waitFor(t, 30)
			if counts := after.Stop(); failures(counts, "v1") != 0 {
				t.Fatalf("answers after the rollback: %v; want 200 v1 only", counts)
			}
			gens, err := f.host.Generations(ctx, tg.Env())
			if err != nil || len(gens) != 1 || gens[0].Number != first.Generation {
				t.Fatalf("generations after the rollback: %+v %v, want %d alone", gens, err, first.Generation)
			}
		})
	}
}
