package cleanup

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/slipway-cd/slipway/internal/registry"
)

// Registry is what a cleanup needs of a registry; *registry.Registry is one.
type Registry interface {
	Store() *registry.Store
	DeleteTag(ctx context.Context, repo, tag string) error
	CollectGarbage(ctx context.Context, opts registry.GCOptions) (registry.GCReport, error)
}

// Decision is the fate of one tag and why.
type Decision struct {
	Repository string        `json:"repository"`
	Tag        string        `json:"tag"`
	Digest     digest.Digest `json:"digest"`
	Pushed     time.Time     `json:"pushed"`
	Delete     bool          `json:"delete"`
	Reason     string        `json:"reason"`
}

// Report is the outcome of a run. In a dry run nothing was deleted and GC
// is nil.
type Report struct {
	DryRun    bool               `json:"dry_run"`
	Decisions []Decision         `json:"decisions"`
	GC        *registry.GCReport `json:"gc,omitempty"`
}

// Deleted returns the decisions to delete.
func (r Report) Deleted() []Decision {
	var out []Decision
	for _, d := range r.Decisions {
		if d.Delete {
			out = append(out, d)
		}
	}
	return out
}

// Run applies the policy to every repository a rule matches: it deletes the
// tags the rules select (GitLab's order: latest is kept, then tags not
// matching name_regex_delete, then tags matching name_regex_keep, then the
// keep_n most recent, then tags younger than older_than; the rest go), then
// collects garbage. With dryRun it only reports.
func Run(ctx context.Context, reg Registry, p *Policy, dryRun bool) (Report, error) {
	return RunRules(ctx, reg, p, nil, dryRun)
}

// RunRules is Run for the rules only selects (nil: every rule), the ones
// whose cadence is due. A repository whose first matching rule is not
// selected is left alone: a later rule does not apply to it instead.
func RunRules(ctx context.Context, reg Registry, p *Policy, only func(*Rule) bool, dryRun bool) (Report, error) {
	rep := Report{DryRun: dryRun}
	repos, err := reg.Store().Repositories()
	if err != nil {
		return rep, err
	}
	now := time.Now()
	for _, repo := range repos {
		rule := p.RuleFor(repo)
		if rule == nil || only != nil && !only(rule) {
			continue
		}
		tags, err := reg.Store().Tags(repo)
		if err != nil {
			return rep, fmt.Errorf("cleanup %s: %w", repo, err)
		}
		rep.Decisions = append(rep.Decisions, Decide(repo, tags, rule, now)...)
	}
	if dryRun {
		return rep, nil
	}
	for _, d := range rep.Decisions {
		if !d.Delete {
			continue
		}
		if err := reg.DeleteTag(ctx, d.Repository, d.Tag); err != nil {
			return rep, fmt.Errorf("cleanup: %w", err)
		}
	}
	grace := p.GracePeriod
	if grace < 0 {
		grace = registry.DefaultGracePeriod
	}
	gc, err := reg.CollectGarbage(ctx, registry.GCOptions{GracePeriod: grace})
	if err != nil {
		return rep, fmt.Errorf("cleanup: %w", err)
	}
	rep.GC = &gc
	return rep, nil
}

// Decide applies one rule to the tags of one repository.
func Decide(repo string, tags []registry.TagInfo, rule *Rule, now time.Time) []Decision {
	tags = append([]registry.TagInfo(nil), tags...)
	sort.SliceStable(tags, func(i, j int) bool { return tags[i].Pushed.After(tags[j].Pushed) })
	var out []Decision
	kept := 0 // tags kept by keep_n so far
	for _, t := range tags {
		d := Decision{Repository: repo, Tag: t.Tag, Digest: t.Digest, Pushed: t.Pushed}
		switch {
		case t.Tag == "latest":
			d.Reason = "latest is always kept"
		case !rule.Delete.MatchString(t.Tag):
			d.Reason = fmt.Sprintf("does not match name_regex_delete %q", rule.DeleteSource)
		case rule.Keep != nil && rule.Keep.MatchString(t.Tag):
			d.Reason = fmt.Sprintf("matches name_regex_keep %q", rule.KeepSource)
		case kept < rule.KeepN:
			kept++
			d.Reason = fmt.Sprintf("among the %d most recent (keep_n)", rule.KeepN)
		case rule.OlderThan > 0 && now.Sub(t.Pushed) < rule.OlderThan:
			d.Reason = fmt.Sprintf("younger than older_than %s", rule.OlderThan)
		default:
			d.Delete = true
			why := []string{fmt.Sprintf("matches name_regex_delete %q", rule.DeleteSource)}
			if rule.KeepN > 0 {
				why = append(why, fmt.Sprintf("not among the %d most recent", rule.KeepN))
			}
			if rule.OlderThan > 0 {
				why = append(why, fmt.Sprintf("older than %s", rule.OlderThan))
			}
			d.Reason = strings.Join(why, ", ")
		}
		out = append(out, d)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Tag < out[j].Tag })
	return out
}
