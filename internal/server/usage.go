package server

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/slipway-cd/slipway/internal/env/usage"
	"github.com/slipway-cd/slipway/internal/store"
)

// defaultUsageInterval is how often environments are sampled when
// environments.usage_interval is not set.
const defaultUsageInterval = 15 * time.Second

// checkUsageInterval refuses a negative environments.usage_interval.
func (c EnvironmentsConfig) checkUsageInterval() error {
	if c.UsageInterval < 0 {
		return fmt.Errorf("environments.usage_interval %s: want a positive duration", c.UsageInterval)
	}
	return nil
}

// openUsage prepares the sampler of the resource use of environments and
// GitOps apps, and its Prometheus series, once; Start runs its passes
// (usagePass).
func (s *Server) openUsage() {
	if s.usage != nil {
		return
	}
	s.usage = &usage.Sampler{Reader: s.deployer, Targets: s.usageTargets, Logger: s.log}
	s.registry.MustRegister(s.usage.Collector())
}

// usagePass samples the environments once; an engine that does not answer
// in time only delays the numbers until the next pass.
func (s *Server) usagePass(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, max(s.usageInterval(), 10*time.Second))
	defer cancel()
	s.usage.Pass(ctx)
}

// usageInterval is environments.usage_interval or its default.
func (s *Server) usageInterval() time.Duration {
	if d := s.cfg.Environments.UsageInterval; d > 0 {
		return d
	}
	return defaultUsageInterval
}

// liveStates are the states in which an environment may have containers.
var liveStates = []string{store.EnvDeploying, store.EnvAvailable, store.EnvStopping, store.EnvStopFailed}

// usageTargets are the environments that may have containers and the
// GitOps apps.
func (s *Server) usageTargets(ctx context.Context) ([]usage.Target, error) {
	out := s.gitopsUsageTargets(ctx)
	if s.Envs == nil {
		return out, nil
	}
	names := map[int64]string{}
	for _, state := range liveStates {
		envs, err := s.Store.ListEnvironmentsInState(ctx, state)
		if err != nil {
			return nil, err
		}
		for _, e := range envs {
			if _, ok := names[e.ProjectID]; !ok {
				p, err := s.Store.GetProject(ctx, e.ProjectID)
				if err != nil {
					return nil, err
				}
				names[e.ProjectID] = p.Name
			}
			t := usage.Target{Key: s.Envs.HostKey(e.ProjectID, e.Slug), ProjectID: e.ProjectID,
				Project: names[e.ProjectID], EnvironmentID: e.ID, Environment: e.Name}
			if s.kubeHost != nil {
				t.Cluster, t.Pods = s.kubeUsage, []usage.PodSet{s.kubeHost.PodSet(t.Key)}
			}
			out = append(out, t)
		}
	}
	return out, nil
}

// usageView is an environment's usage as the API and the UI show it.
type usageView struct {
	usage.Report
	State string `json:"state"`
	// IntervalSeconds is how often the server samples.
	IntervalSeconds float64 `json:"interval_seconds"`
}

// usageOf is the last sample of e; no services when it has none (stopped,
// or not sampled yet).
func (s *Server) usageOf(p store.Project, e store.Environment) usageView {
	v := usageView{State: e.State, IntervalSeconds: s.usageInterval().Seconds()}
	if s.usage != nil {
		v.Report, _ = s.usage.Get(s.Envs.HostKey(e.ProjectID, e.Slug))
	}
	v.Target = usage.Target{ProjectID: p.ID, Project: p.Name, EnvironmentID: e.ID, Environment: e.Name}
	if v.Services == nil {
		v.Services = []usage.Service{}
	}
	return v
}

// getEnvironmentUsage answers GET /api/projects/{project}/environments/{environment}/usage.
func (s *Server) getEnvironmentUsage(r *http.Request) (any, error) {
	if s.usage == nil {
		return nil, &httpError{http.StatusNotFound, "this server does not run environments (environments.enabled)"}
	}
	p, err := s.project(r)
	if err != nil {
		return nil, err
	}
	e, err := s.projectEnvironment(r.Context(), p, r.PathValue("environment"))
	if err != nil {
		return nil, err
	}
	return s.usageOf(p, e), nil
}

// projectEnvironment finds a project's environment by ID, name
// (review/x, its slash escaped in a path as %2F) or slug. A number that is
// none of the project's IDs may still be a name ("2024").
func (s *Server) projectEnvironment(ctx context.Context, p store.Project, ref string) (store.Environment, error) {
	if id, err := strconv.ParseInt(ref, 10, 64); err == nil {
		e, err := s.Store.GetEnvironment(ctx, id)
		if err == nil && e.ProjectID == p.ID {
			return e, nil
		}
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return store.Environment{}, err
		}
	}
	e, err := s.Store.GetEnvironmentByName(ctx, p.ID, ref)
	if err == nil {
		return e, nil
	}
	envs, lerr := s.Store.ListEnvironments(ctx, p.ID)
	if lerr != nil {
		return store.Environment{}, lerr
	}
	for _, e := range envs {
		if e.Slug == ref {
			return e, nil
		}
	}
	return store.Environment{}, err
}

// uiEnvironment is an environment's page: its facts and each service's
// health and resource use with their last hour.
func (s *Server) uiEnvironment(w http.ResponseWriter, r *http.Request) {
	id, err := uiID(r, "id")
	if err != nil {
		s.uiError(w, r, err)
		return
	}
	e, err := s.Store.GetEnvironment(r.Context(), id)
	if err != nil {
		s.uiError(w, r, err)
		return
	}
	p, err := s.Store.GetProject(r.Context(), e.ProjectID)
	if err != nil {
		s.uiError(w, r, err)
		return
	}
	data := struct {
		Project store.Project
		Env     store.Environment
		Usage   usageView
		Enabled bool
	}{p, e, s.usageOf(p, e), s.usage != nil}
	s.render(w, r, http.StatusOK, "environment", "layout", e.Name, "environments", data)
}

// The usage pages' template functions join the UI's before its templates
// are parsed (routesUI parses them when the server starts).
func init() {
	uiFuncs["bytes"] = humanBytes
	uiFuncs["percent"] = func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) + "%" }
	uiFuncs["rate"] = func(v float64) string { return humanBytes(uint64(math.Round(v))) + "/s" }
	uiFuncs["seconds"] = func(v float64) time.Duration { return time.Duration(v * float64(time.Second)) }
	uiFuncs["spark"] = sparkline
}

// humanBytes is a size as people read it: 512 B, 3.4 KiB, 12.0 MiB.
func humanBytes(n uint64) string {
	if n < 1024 {
		return strconv.FormatUint(n, 10) + " B"
	}
	v, unit := float64(n), 0
	for v >= 1024 && unit < 5 {
		v /= 1024
		unit++
	}
	return strconv.FormatFloat(v, 'f', 1, 64) + " " + "BKMGTP"[unit:unit+1] + "iB"
}

// sparkline draws a service's history of one measure ("cpu", "memory",
// "rx", "tx") as a small inline SVG line, scaled to its own maximum. Only
// numbers go into it, so it is safe HTML.
func sparkline(measure string, h []usage.Point) template.HTML {
	const w, ht = 120.0, 24.0
	if len(h) < 2 {
		return template.HTML(`<span class="muted">–</span>`)
	}
	vals := make([]float64, len(h))
	top := 0.0
	for i, p := range h {
		switch measure {
		case "cpu":
			vals[i] = p.CPUPercent
		case "memory":
			vals[i] = float64(p.MemoryBytes)
		case "rx":
			vals[i] = p.NetworkRxPerSec
		case "tx":
			vals[i] = p.NetworkTxPerSec
		}
		top = max(top, vals[i])
	}
	var pts strings.Builder
	for i, v := range vals {
		y := ht - 1
		if top > 0 {
			y = ht - 1 - v/top*(ht-2)
		}
		fmt.Fprintf(&pts, "%.1f,%.1f ", float64(i)/float64(len(vals)-1)*w, y)
	}
	return template.HTML(fmt.Sprintf(`<svg class="spark spark-%s" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" role="img" aria-label="%s over the last %d samples"><polyline fill="none" stroke="currentColor" stroke-width="1.5" points="%s"/></svg>`,
		template.HTMLEscapeString(measure), w, ht, w, ht, template.HTMLEscapeString(measure), len(vals), strings.TrimSpace(pts.String())))
}
