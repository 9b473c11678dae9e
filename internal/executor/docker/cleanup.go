package docker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"

	"github.com/slipway-cd/slipway/internal/owner"
)

// Labels on everything the executor creates. A killed Slipway cannot clean
// up; the next one finds its leftovers by these labels.
const (
	LabelManaged = "slipway.managed" // "true"
	LabelJob     = "slipway.job"     // Spec.ID
	LabelJobName = "slipway.job.name"
	LabelOwner   = "slipway.owner" // owner.This(): the process that created it
)

// CleanupLeftovers removes the containers (with their anonymous volumes),
// networks and volumes that a Slipway process which is gone left behind:
// everything labelled slipway.managed=true whose slipway.owner names a
// process of this host that no longer runs. Jobs of live processes,
// including other Slipways sharing the engine, are left alone.
func CleanupLeftovers(ctx context.Context, cli *client.Client) error {
	return sweep(ctx, cli, client.Filters{}.Add("label", LabelManaged+"=true"), func(labels map[string]string) bool {
		return owner.Gone(labels[LabelOwner])
	})
}

// removeJob removes whatever job id of this process created: the safety net
// after a failed API call that may have created something unrecorded.
func removeJob(ctx context.Context, cli *client.Client, id string) error {
	f := client.Filters{}.Add("label", LabelManaged+"=true", LabelJob+"="+id, LabelOwner+"="+owner.This())
	return sweep(ctx, cli, f, func(map[string]string) bool { return true })
}

// sweep removes the containers, then networks, then volumes matching f for
// which doomed says yes. It goes on after an error and returns them all.
func sweep(ctx context.Context, cli *client.Client, f client.Filters, doomed func(labels map[string]string) bool) error {
	var errs []error
	containers, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return fmt.Errorf("list containers: %w", err)
	}
	for _, c := range containers.Items {
		if !doomed(c.Labels) {
			continue
		}
		if err := removeContainer(ctx, cli, c.ID); err != nil {
			errs = append(errs, err)
			continue
		}
		slog.Info("docker: removed leftover container", "container", c.ID[:12], "job", c.Labels[LabelJob], "owner", c.Labels[LabelOwner])
	}
	networks, err := cli.NetworkList(ctx, client.NetworkListOptions{Filters: f})
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("list networks: %w", err))...)
	}
	for _, n := range networks.Items {
		if !doomed(n.Labels) {
			continue
		}
		if err := removeNetwork(ctx, cli, n.ID); err != nil {
			errs = append(errs, err)
			continue
		}
		slog.Info("docker: removed leftover network", "network", n.Name, "job", n.Labels[LabelJob], "owner", n.Labels[LabelOwner])
	}
	volumes, err := cli.VolumeList(ctx, client.VolumeListOptions{Filters: f})
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("list volumes: %w", err))...)
	}
	for _, v := range volumes.Items {
		if !doomed(v.Labels) {
			continue
		}
		if _, err := cli.VolumeRemove(ctx, v.Name, client.VolumeRemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove volume %s: %w", v.Name, err))
			continue
		}
		slog.Info("docker: removed leftover volume", "volume", v.Name, "job", v.Labels[LabelJob], "owner", v.Labels[LabelOwner])
	}
	return errors.Join(errs...)
}

// removeContainer kills and removes a container with its anonymous
// volumes; one already gone is not an error.
func removeContainer(ctx context.Context, cli *client.Client, id string) error {
	_, err := cli.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
	// A conflict is a removal already in progress (another Slipway's sweep).
	if err != nil && !cerrdefs.IsNotFound(err) && !cerrdefs.IsConflict(err) {
		return fmt.Errorf("remove container %s: %w", id, err)
	}
	return nil
}

func removeNetwork(ctx context.Context, cli *client.Client, id string) error {
	_, err := cli.NetworkRemove(ctx, id, client.NetworkRemoveOptions{})
	if err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("remove network %s: %w", id, err)
	}
	return nil
}
