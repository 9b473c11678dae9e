package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
)

// Pull policies, as GitLab names them.
const (
	PullAlways       = "always"
	PullIfNotPresent = "if-not-present"
	PullNever        = "never"
)

// checkPullPolicies rejects unknown policies, naming the field.
func checkPullPolicies(field string, policies []string) error {
	for _, p := range policies {
		switch p {
		case PullAlways, PullIfNotPresent, PullNever:
		default:
			return fmt.Errorf("%s: unknown pull policy %q (want %s, %s or %s)", field, p, PullAlways, PullIfNotPresent, PullNever)
		}
	}
	return nil
}

// ensureImage makes ref available on the engine following policies in
// order: like GitLab, a later policy is the fallback when an earlier one
// fails (`[always, if-not-present]` uses the local image when the registry
// cannot be reached).
// auth is the encoded registry credentials, "" for none.
func ensureImage(ctx context.Context, cli *client.Client, ref, auth string, policies []string, out io.Writer) error {
	var errs []error
	for _, p := range policies {
		err := applyPolicy(ctx, cli, ref, auth, p, out)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		errs = append(errs, fmt.Errorf("pull_policy %s: %w", p, err))
	}
	return fmt.Errorf("image %s: %w", ref, errors.Join(errs...))
}

func applyPolicy(ctx context.Context, cli *client.Client, ref, auth, policy string, out io.Writer) error {
	if policy != PullAlways {
		_, err := cli.ImageInspect(ctx, ref)
		if err == nil {
			fmt.Fprintf(out, "Using docker image %s (present locally, pull_policy %s)\n", ref, policy)
			return nil
		}
		if !cerrdefs.IsNotFound(err) {
			return fmt.Errorf("inspect: %w", err)
		}
		if policy == PullNever {
			return errors.New("not present on the engine and pulls are not allowed")
		}
	}
	fmt.Fprintf(out, "Pulling docker image %s ...\n", ref)
	resp, err := cli.ImagePull(ctx, pullRef(ref), client.ImagePullOptions{RegistryAuth: auth})
	if err != nil {
		return fmt.Errorf("pull: %w", err)
	}
	defer resp.Close()
	if err := resp.Wait(ctx); err != nil {
		return fmt.Errorf("pull: %w", err)
	}
	return nil
}

// pullRef adds the tag Docker assumes when none is given: the API would
// otherwise pull every tag of the repository.
func pullRef(ref string) string {
	if strings.Contains(ref, "@") || strings.LastIndex(ref, ":") > strings.LastIndex(ref, "/") {
		return ref
	}
	return ref + ":latest"
}
