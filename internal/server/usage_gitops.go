package server

import (
	"context"
	"net/http"
	"sync"

	"github.com/slipway-cd/slipway/internal/env/usage"
	"github.com/slipway-cd/slipway/internal/env/usage/kubeusage"
	"github.com/slipway-cd/slipway/internal/gitops"
)

// gitopsUsageKey is the sampler's key of a deployment onto Kubernetes; a
// slash never appears in the Docker host's environment keys.
func gitopsUsageKey(deployment string) string { return "gitops/" + deployment }

// kubeReaders are the usage readers of the GitOps deployments onto
// Kubernetes, by deployment, made on first use on the controller's
// connection to the deployment's cluster.
type kubeReaders struct {
	mu sync.Mutex
	by map[string]*kubeusage.Reader
}

func (s *Server) kubeReader(deployment string) (*kubeusage.Reader, error) {
	k := &s.kubeReaders
	k.mu.Lock()
	defer k.mu.Unlock()
	if r, ok := k.by[deployment]; ok {
		return r, nil
	}
	cl, err := s.gitops.controller.Cluster(deployment)
	if err != nil {
		return nil, err
	}
	r, err := kubeusage.New(cl.Config)
	if err != nil {
		return nil, err
	}
	if k.by == nil {
		k.by = map[string]*kubeusage.Reader{}
	}
	k.by[deployment] = r
	return r, nil
}

// gitopsUsageTargets are the GitOps apps to sample: on the Docker host each
// app's containers (its environment key), on Kubernetes the pods of each
// workload the deployment applied, one service per workload. A cluster
// that does not answer leaves its deployment out of this pass.
func (s *Server) gitopsUsageTargets(ctx context.Context) []usage.Target {
	if s.gitops == nil {
		return nil
	}
	var out []usage.Target
	for _, st := range s.gitops.controller.Statuses() {
		if st.Target != gitops.TargetKubernetes {
			for _, a := range st.Apps {
				if a.Env != "" && a.Reason != gitops.ReasonPruned {
					out = append(out, usage.Target{Key: a.Env, Deployment: st.Name, App: a.Name})
				}
			}
			continue
		}
		var workloads []kubeusage.Workload
		for _, ref := range st.Inventory {
			if kubeusage.Runs(ref.Kind) {
				workloads = append(workloads, kubeusage.Workload{Kind: ref.Kind, Namespace: ref.Namespace, Name: ref.Name})
			}
		}
		if len(workloads) == 0 {
			continue
		}
		r, err := s.kubeReader(st.Name)
		if err != nil {
			s.log.Warn("usage: gitops deployment", "deployment", st.Name, "err", err)
			continue
		}
		sets, err := r.PodSets(ctx, workloads)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn("usage: gitops deployment's workloads", "deployment", st.Name, "err", err)
			}
			continue
		}
		out = append(out, usage.Target{Key: gitopsUsageKey(st.Name), Deployment: st.Name, Cluster: r, Pods: sets})
	}
	return out
}

// gitopsUsage is the last sample of each app of the deployment (of its
// workloads on Kubernetes), empty before the first.
func (s *Server) gitopsUsage(st gitops.DeploymentStatus) []usage.Report {
	out := []usage.Report{}
	if s.usage == nil {
		return out
	}
	keys := []string{gitopsUsageKey(st.Name)}
	if st.Target != gitops.TargetKubernetes {
		keys = keys[:0]
		for _, a := range st.Apps {
			keys = append(keys, a.Env)
		}
	}
	for _, k := range keys {
		if r, ok := s.usage.Get(k); ok {
			out = append(out, r)
		}
	}
	return out
}

// gitopsUsageView is a GitOps deployment's resource use as the API shows it.
type gitopsUsageView struct {
	Deployment string `json:"deployment"`
	// Target is docker or kubernetes.
	Target string `json:"target"`
	// IntervalSeconds is how often the server samples.
	IntervalSeconds float64 `json:"interval_seconds"`
	// Apps are the reports of its apps; on Kubernetes one, whose services
	// are the deployment's workloads.
	Apps []usage.Report `json:"apps"`
}

// getGitopsUsage answers GET /api/gitops/{deployment}/usage.
func (s *Server) getGitopsUsage(r *http.Request) (any, error) {
	if s.gitops == nil {
		return nil, errNoGitops
	}
	name := r.PathValue("deployment")
	for _, st := range s.gitops.controller.Statuses() {
		if st.Name == name {
			return gitopsUsageView{Deployment: name, Target: targetOf(st), IntervalSeconds: s.usageInterval().Seconds(),
				Apps: s.gitopsUsage(st)}, nil
		}
	}
	return nil, &httpError{http.StatusNotFound, "no GitOps deployment " + name}
}

// targetOf is the status's target, docker when it says none (a status
// file from before the Kubernetes target).
func targetOf(st gitops.DeploymentStatus) string {
	if st.Target == "" {
		return gitops.TargetDocker
	}
	return st.Target
}
