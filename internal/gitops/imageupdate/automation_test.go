package imageupdate_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/slipway-cd/slipway/internal/gitops/imageupdate"
	"github.com/slipway-cd/slipway/internal/registry/registrytest"
	"github.com/slipway-cd/slipway/internal/testenv"
)

const hourly = `
imagePolicies:
  - name: app
    image: HOST/team/app
    policy: {semver: {range: ">=1.0.0"}}
  - name: gone
    image: HOST/team/gone
    policy: {semver: {range: ">=1.0.0"}}
imageUpdates:
  - name: staging
    url: BARE
    interval: 1h
`

// TestAutomationRunsNowWhenAsked: Run runs each update at once, then only
// when RunNow asks within its hour; Status shows each policy's choice or
// error and each update's last commit or error.
func TestAutomationRunsNowWhenAsked(t *testing.T) {
	host, bare, cfg := setup(t, []string{"1.0.0"}, map[string]string{"app.yaml": "image: HOST/team/app:1.0.0 # {\"$imagepolicy\": \"app\"}\n"}, hourly)
	cfg.Policies = cfg.Policies[:1] // "gone" comes back below
	runs := make(chan error, 10)
	a := &imageupdate.Automation{Config: cfg, Logger: quietLog(), Ran: func(u *imageupdate.Update, res imageupdate.Outcome, err error) { runs <- err }}
	if err := a.RunNow("nope"); !errors.Is(err, imageupdate.ErrUnknownUpdate) {
		t.Errorf("RunNow of an unknown update: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	wait := func(what string) {
		t.Helper()
		select {
		case err := <-runs:
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
		case <-time.After(time.Minute):
			t.Fatalf("%s: no run", what)
		}
	}
	wait("the first run")
	if st := a.Status(); st.Policies[0].Tag != "1.0.0" || st.Updates[0].LastCommit != "" || st.Updates[0].LastRun.IsZero() {
		t.Errorf("after the first run: %+v", st)
	}

	registrytest.Push(t, host+"/team/app:1.2.0", registrytest.Image(t, 128))
	if err := a.RunNow("staging"); err != nil {
		t.Fatal(err)
	}
	wait("the run asked for")
	head := testenv.Git(t, bare, "rev-parse", "main")
	if got := show(t, bare, "main", "app.yaml"); !strings.Contains(got, "team/app:1.2.0") {
		t.Errorf("after RunNow app.yaml is %q", got)
	}
	st := a.Status()
	if st.Policies[0].Tag != "1.2.0" || st.Policies[0].Digest == "" || st.Updates[0].LastCommit != head || st.Updates[0].Error != "" {
		t.Errorf("after RunNow: %+v, want app at 1.2.0 and the last commit %s", st, head)
	}
	select {
	case err := <-runs:
		t.Errorf("a run nobody asked for within the hour (err %v)", err)
	default:
	}
}

// TestAutomationRecordsScanErrors: a policy whose repository is missing
// fails the run with its error, kept in Status; the choices of the others
// stay.
func TestAutomationRecordsScanErrors(t *testing.T) {
	_, _, cfg := setup(t, []string{"1.0.0"}, map[string]string{"app.yaml": "x: 1\n"}, hourly)
	a := &imageupdate.Automation{Config: cfg, Logger: quietLog()}
	err := a.RunAll(context.Background())
	if err == nil || !strings.Contains(err.Error(), "image policy gone") {
		t.Fatalf("RunAll with a missing repository: %v", err)
	}
	st := a.Status()
	if st.Policies[0].Tag != "1.0.0" || st.Policies[1].Error == "" || st.Policies[1].Tag != "" {
		t.Errorf("policies: %+v", st.Policies)
	}
}

func quietLog() *slog.Logger { return slog.New(slog.DiscardHandler) }
