package docker

import (
	"context"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"

	"github.com/slipway-cd/slipway/internal/ci"
)

// waitForServices waits, up to ServiceWait in all, until each service
// listens on the TCP ports its image exposes, as GitLab does. A service
// that exits or stays silent gets a warning with its last log lines; the
// job runs anyway, as in GitLab. Services are only dialled when the engine
// is on this host (their addresses are routable from here).
func (j *job) waitForServices(ctx context.Context, services []ci.Service) {
	ctx, cancel := context.WithTimeout(ctx, j.opts.ServiceWait)
	defer cancel()
	for i, s := range services {
		id := j.containers[i]
		if err := j.waitForService(ctx, id); err != nil {
			fmt.Fprintf(j.out, "WARNING: service %s probably did not start properly: %v\n%s", s.Name, err, j.serviceLogs(id))
		}
	}
}

func (j *job) waitForService(ctx context.Context, id string) error {
	insp, err := j.cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return fmt.Errorf("inspect: %w", err)
	}
	c := insp.Container
	if c.State != nil && !c.State.Running {
		return fmt.Errorf("exited with code %d", c.State.ExitCode)
	}
	if !j.probe || c.Config == nil || c.NetworkSettings == nil || c.NetworkSettings.Networks[j.network] == nil {
		return nil
	}
	ip := c.NetworkSettings.Networks[j.network].IPAddress
	if !ip.IsValid() {
		return nil
	}
	for port := range c.Config.ExposedPorts {
		if port.Proto() != "tcp" {
			continue
		}
		addr := net.JoinHostPort(ip.String(), fmt.Sprint(port.Num()))
		if err := dialUntil(ctx, addr); err != nil {
			return fmt.Errorf("nothing listens on port %d: %w", port.Num(), err)
		}
	}
	return nil
}

func dialUntil(ctx context.Context, addr string) error {
	var d net.Dialer
	for {
		dctx, cancel := context.WithTimeout(ctx, time.Second)
		conn, err := d.DialContext(dctx, "tcp", addr)
		cancel()
		if err == nil {
			conn.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// serviceLogs is the end of a service's output, indented, for a warning.
func (j *job) serviceLogs(id string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	logs, err := j.cli.ContainerLogs(ctx, id, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Tail: "20"})
	if err != nil {
		return ""
	}
	defer logs.Close()
	var b strings.Builder
	_, _ = stdcopy.StdCopy(&b, &b, logs)
	if b.Len() == 0 {
		return ""
	}
	return "  | " + strings.ReplaceAll(strings.TrimRight(b.String(), "\n"), "\n", "\n  | ") + "\n"
}
