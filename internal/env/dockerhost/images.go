package dockerhost

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
)

// An environment's own images (those a deploy of it pulled, LabelPulled,
// and those its pipeline built, which the caller names to RemoveImages) go
// from the host with it, as the seed's remove-review-env.sh removed them.
// Only the names the environment used are removed, as `docker rmi` would:
// the engine deletes the image once it has no other name. An image that any
// container uses, of another environment or not, keeps its names.

// RemoveImages removes the names refs give (a tag, a digest, or
// "repo:tag@sha256:..." for both) from the host, unless a container uses
// their image. A name the host lacks is no error.
func (d *Deployer) RemoveImages(ctx context.Context, refs ...string) error {
	var errs []error
	for _, ref := range refs {
		tagged, digest, _ := strings.Cut(ref, "@")
		names := []string{tagged}
		if digest != "" {
			names = append(names, repoOf(tagged)+"@"+digest)
		}
		id := ""
		for _, name := range names {
			if insp, err := d.opts.Client.ImageInspect(ctx, name); err == nil {
				id = insp.ID
				break
			}
		}
		if id == "" {
			continue
		}
		if err := d.removeUnusedImage(ctx, id, names); err != nil {
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

// removeUnusedImage removes names of image id when no container (running
// or not, of any environment or none) is made from it or from an image
// built on it.
func (d *Deployer) removeUnusedImage(ctx context.Context, id string, names []string) error {
	users, err := d.opts.Client.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: client.Filters{}.Add("ancestor", id)})
	if err != nil {
		return fmt.Errorf("image %.19s: list its containers: %w", id, err)
	}
	if len(users.Items) > 0 {
		d.log.Info("teardown: image kept, a container uses it", "image", id, "container", strings.TrimPrefix(firstName(users.Items[0].Names), "/"))
		return nil
	}
	var errs []error
	slices.Sort(names)
	for _, name := range slices.Compact(names) {
		if name == "" {
			continue
		}
		// Without force: the engine refuses should a container have
		// been made from it since.
		if _, err := d.opts.Client.ImageRemove(ctx, name, client.ImageRemoveOptions{PruneChildren: true}); err != nil && !cerrdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove image %s: %w", name, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	d.log.Info("teardown: image names removed", "image", id, "names", names)
	return nil
}

func firstName(names []string) string {
	if len(names) == 0 {
		return ""
	}
	return names[0]
}
