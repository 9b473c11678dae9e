package dockerhost

import (
	"context"
	"errors"
	"fmt"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
)

// An environment's own images (those a deploy of it pulled, LabelPulled,
// and those its pipeline built, which the caller names to RemoveImages) go
// from the host with it, as the seed's remove-review-env.sh removed them.
// An image that any container uses, of another environment or not, stays.

// RemoveImages removes from the host the images refs name (by tag or
// digest; "repo:tag@sha256:..." names both), with all their tags, unless a
// container uses them. A ref the host lacks is no error.
func (d *Deployer) RemoveImages(ctx context.Context, refs ...string) error {
	var errs []error
	for _, ref := range refs {
		tagged, digest, _ := strings.Cut(ref, "@")
		id := ""
		for _, name := range []string{tagged, repoOf(tagged) + "@" + digest} {
			if name == "" || strings.HasSuffix(name, "@") {
				continue
			}
			if insp, err := d.opts.Client.ImageInspect(ctx, name); err == nil {
				id = insp.ID
				break
			}
		}
		if id == "" {
			continue
		}
		if err := d.removeUnusedImage(ctx, id); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// repoOf is the repository of a reference with a tag: host:5000/a/b:t
// gives host:5000/a/b.
func repoOf(tagged string) string {
	i := strings.LastIndex(tagged, ":")
	if i < 0 || strings.Contains(tagged[i:], "/") {
		return tagged
	}
	return tagged[:i]
}

// removeUnusedImage removes image id, every tag and digest of it, when no
// container (running or not, of any environment or none) is made from it
// or from an image built on it.
func (d *Deployer) removeUnusedImage(ctx context.Context, id string) error {
	users, err := d.opts.Client.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: client.Filters{}.Add("ancestor", id)})
	if err != nil {
		return fmt.Errorf("image %.19s: list its containers: %w", id, err)
	}
	if len(users.Items) > 0 {
		d.log.Info("teardown: image kept, a container uses it", "image", id, "container", strings.TrimPrefix(firstName(users.Items[0].Names), "/"))
		return nil
	}
	insp, err := d.opts.Client.ImageInspect(ctx, id)
	if cerrdefs.IsNotFound(err) {
		return nil
	} else if err != nil {
		return fmt.Errorf("image %.19s: %w", id, err)
	}
	names := append(append([]string{}, insp.RepoTags...), insp.RepoDigests...)
	if len(names) == 0 {
		names = []string{id}
	}
	var errs []error
	// Without force: the engine refuses should a container have been
	// made from it since.
	for _, name := range names {
		if _, err := d.opts.Client.ImageRemove(ctx, name, client.ImageRemoveOptions{PruneChildren: true}); err != nil && !cerrdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove image %s: %w", name, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	d.log.Info("teardown: image removed", "image", id, "names", names)
	return nil
}

func firstName(names []string) string {
	if len(names) == 0 {
		return ""
	}
	return names[0]
}
