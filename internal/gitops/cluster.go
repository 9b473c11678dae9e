package gitops

import (
	"fmt"

	"github.com/slipway-cd/slipway/internal/gitops/kube"
)

// Cluster is the connection of a deployment onto Kubernetes, shared with
// its reconciles (the server reads its pods' resource use through it); an
// error for a deployment to the Docker host.
func (c *Controller) Cluster(deployment string) (*kube.Cluster, error) {
	for _, dep := range c.opts.Config.Deployments {
		if dep.Name != deployment {
			continue
		}
		if dep.Kubernetes == nil {
			return nil, fmt.Errorf("deployment %s goes to the Docker host, not to Kubernetes", deployment)
		}
		return c.cluster(dep)
	}
	return nil, fmt.Errorf("%w: %q", ErrUnknownDeployment, deployment)
}
