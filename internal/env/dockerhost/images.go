package dockerhost

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// An environment's own images (those a deploy of it pulled, LabelPulled,
// and those its pipeline built, which the caller names to RemoveImages) go
// from the host with it, as the seed's remove-review-env.sh removed them.
// Only the names the environment used are removed, as `docker rmi` would:
// the engine deletes the image once it has no other name. An image that any
// container uses, of another environment or not, keeps its names.

// pulledImage is an image a deploy pulled: by the name the Compose file
// gave (Ref) and by digest (Image, what the container ran).
type pulledImage struct {
	Ref   string `json:"ref"`
	Image string `json:"image"`
}

// pulledBy is what containers cs pulled or remember of earlier
// generations, each once.
func pulledBy(cs []container.Summary) []pulledImage {
	var out []pulledImage
	for _, c := range cs {
		if ref := c.Labels[LabelPulled]; ref != "" {
			out = append(out, pulledImage{Ref: ref, Image: c.Labels[LabelImage]})
		}
		var earlier []pulledImage
		if json.Unmarshal([]byte(c.Labels[LabelPulledEarlier]), &earlier) == nil {
			out = append(out, earlier...)
		}
	}
	slices.SortFunc(out, func(a, b pulledImage) int {
		return cmp.Or(strings.Compare(a.Image, b.Image), strings.Compare(a.Ref, b.Ref))
	})
	return slices.Compact(out)
}

// earlierPulled is LabelPulledEarlier of a new generation: what the
// containers old (the environment's) pulled or remember, less the images
// gone from the host, so that the label does not grow with every deploy.
func (d *Deployer) earlierPulled(ctx context.Context, old []container.Summary) (string, error) {
	var keep []pulledImage
	for _, p := range pulledBy(old) {
		if _, err := d.opts.Client.ImageInspect(ctx, p.Image); err == nil {
			keep = append(keep, p)
		} else if !cerrdefs.IsNotFound(err) {
			return "", fmt.Errorf("image %s: %w", p.Image, err)
		}
	}
	if len(keep) == 0 {
		return "", nil
	}
	b, err := json.Marshal(keep)
	return string(b), err
}

// pulledImageNames groups the names of images by image ID: the digest
// name, and the pulled name while it still names that image (a tag pulled
// again names a newer one, which is not this image's to remove).
func (d *Deployer) pulledImageNames(ctx context.Context, images []pulledImage) map[string][]string {
	out := map[string][]string{}
	for _, p := range images {
		insp, err := d.opts.Client.ImageInspect(ctx, p.Image)
		if err != nil {
			continue // gone already
		}
		out[insp.ID] = append(out[insp.ID], p.Image)
		if tagged, err := d.opts.Client.ImageInspect(ctx, p.Ref); err == nil && tagged.ID == insp.ID {
			out[insp.ID] = append(out[insp.ID], p.Ref)
		}
	}
	return out
}

// RemoveImages removes the names refs give (a tag, a digest, or
// "repo:tag@sha256:..." for both) from the host, unless a container uses
// their image. A name the host lacks is no error.
func (d *Deployer) RemoveImages(ctx context.Context, refs ...string) error {
	var errs []error
	for _, ref := range refs {
		tagged, digest, _ := strings.Cut(ref, "@")
		// By digest first: the tag may name a newer image since (pushed
		// again by a later deploy), and goes only with the image it names.
		var names []string
		if digest != "" {
			names = append(names, repoOf(tagged)+"@"+digest)
		}
		names = append(names, tagged)
		id := ""
		for i, name := range names {
			insp, err := d.opts.Client.ImageInspect(ctx, name)
			switch {
			case err != nil:
			case id == "":
				id = insp.ID
			case insp.ID != id:
				names[i] = ""
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

// removeImages removes the images of pulled (image ID: the names it was
// pulled by) that no container uses. A failure is only logged: the
// containers that used them are gone whatever becomes of the images.
func (d *Deployer) removeImages(ctx context.Context, env string, pulled map[string][]string) {
	for id, names := range pulled {
		if err := d.removeUnusedImage(ctx, id, names); err != nil {
			d.log.Warn("image not removed", "env", env, "image", id, "err", err)
		}
	}
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
		d.log.Info("image kept, a container uses it", "image", id, "container", strings.TrimPrefix(firstName(users.Items[0].Names), "/"))
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
	d.log.Info("image names removed", "image", id, "names", names)
	return nil
}

func firstName(names []string) string {
	if len(names) == 0 {
		return ""
	}
	return names[0]
}
