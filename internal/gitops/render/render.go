// Package render turns a folder of a git checkout into the Kubernetes
// objects it asks for: the YAML manifests under it, or what Kustomize
// builds when it holds a kustomization.yaml, then Flux's post-build
// substitution of ${VAR} and ${VAR:=default}.
package render

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/fluxcd/pkg/envsubst"
	"github.com/slipway-cd/slipway/internal/yamlsyntax"
	"go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	sigsyaml "sigs.k8s.io/yaml"
)

// SubstituteAnnotation set to "disabled" on an object keeps its ${...}
// as they are, as in Flux.
const SubstituteAnnotation = "kustomize.toolkit.fluxcd.io/substitute"

// kustomizationFiles are the names Kustomize reads, in its order.
var kustomizationFiles = []string{"kustomization.yaml", "kustomization.yml", "Kustomization"}

// Options tune Render.
type Options struct {
	// Substitute enables post-build substitution with Vars.
	Substitute bool
	// Vars are the substitution's values; a ${VAR} without one and
	// without a default is an error.
	Vars map[string]string
}

// Object is a rendered object and where it comes from, for messages.
type Object struct {
	*unstructured.Unstructured
	// Origin is file:line for a manifest, the kustomization file for what
	// Kustomize built; relative to the repository.
	Origin string
}

// Render reads the folder root/dir (dir is relative to the repository
// root, as errors name files) and returns its objects.
func Render(root, dir string, opts Options) ([]Object, error) {
	folder := filepath.Join(root, filepath.FromSlash(dir))
	var objs []Object
	var err error
	if k := kustomization(folder); k != "" {
		objs, err = build(root, folder, path(dir, k))
	} else {
		objs, err = manifests(root, folder)
	}
	if err != nil {
		return nil, err
	}
	if opts.Substitute {
		for i, o := range objs {
			if objs[i], err = substitute(o, opts.Vars); err != nil {
				return nil, err
			}
		}
	}
	return objs, nil
}

func path(dir, file string) string {
	if dir == "" || dir == "." {
		return file
	}
	return dir + "/" + file
}

// kustomization is the name of the folder's kustomization file, "" for
// none.
func kustomization(folder string) string {
	for _, name := range kustomizationFiles {
		if fi, err := os.Stat(filepath.Join(folder, name)); err == nil && fi.Mode().IsRegular() {
			return name
		}
	}
	return ""
}

// build runs Kustomize on folder. Files outside the repository (through
// ../ or links) and remote bases are refused: a commit must not make
// Slipway read the host's files or fetch what git does not hold.
func build(root, folder, kfile string) ([]Object, error) {
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", kfile, err)
	}
	fsys := confined{FileSystem: filesys.MakeFsOnDisk(), root: realRoot}
	opts := krusty.MakeDefaultOptions()
	opts.LoadRestrictions = types.LoadRestrictionsRootOnly
	k := krusty.MakeKustomizer(opts)
	rm, err := k.Run(fsys, folder)
	if err != nil {
		return nil, fmt.Errorf("%s: kustomize: %s", kfile, strings.ReplaceAll(err.Error(), root+"/", ""))
	}
	var out []Object
	for _, r := range rm.Resources() {
		m, err := r.Map()
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", kfile, r.CurId(), err)
		}
		out = append(out, Object{Unstructured: &unstructured.Unstructured{Object: m}, Origin: kfile})
	}
	return out, nil
}

// manifests reads every .yaml, .yml and .json file under folder, in path
// order, each a stream of YAML documents.
func manifests(root, folder string) ([]Object, error) {
	var files []string
	err := filepath.WalkDir(folder, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if p != folder && strings.HasPrefix(name, ".") {
				return filepath.SkipDir
			}
			return nil
		}
		switch filepath.Ext(name) {
		case ".yaml", ".yml", ".json":
			if !d.Type().IsRegular() {
				rel, _ := filepath.Rel(root, p)
				return fmt.Errorf("%s: not a regular file (a link?)", filepath.ToSlash(rel))
			}
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.Sort(files)
	var out []Object
	for _, f := range files {
		rel, _ := filepath.Rel(root, f)
		objs, err := readFile(f, filepath.ToSlash(rel))
		if err != nil {
			return nil, err
		}
		out = append(out, objs...)
	}
	return out, nil
}

// readFile decodes the documents of one file; errors name file:line:col.
func readFile(file, rel string) ([]Object, error) {
	content, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(content))
	var out []Object
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, yamlsyntax.InFile(rel, content, err)
		}
		if len(doc.Content) == 0 || doc.Content[0].Tag == "!!null" {
			continue // an empty document (a lone ---)
		}
		n := doc.Content[0]
		at := fmt.Sprintf("%s:%d:%d", rel, n.Line, n.Column)
		if n.Kind != yaml.MappingNode {
			return nil, fmt.Errorf("%s: want a Kubernetes object (a mapping with apiVersion, kind, metadata)", at)
		}
		var m map[string]any
		if err := n.Decode(&m); err != nil {
			return nil, fmt.Errorf("%s: %w", at, err)
		}
		u, err := toUnstructured(m)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", at, err)
		}
		if list, err := u.ToList(); err == nil && u.IsList() {
			for _, item := range list.Items {
				out = append(out, Object{Unstructured: &item, Origin: at})
			}
			continue
		}
		if err := check(u); err != nil {
			return nil, fmt.Errorf("%s: %w", at, err)
		}
		out = append(out, Object{Unstructured: u, Origin: at})
	}
}

// toUnstructured goes through JSON so numbers are what the API machinery
// expects (int64, float64).
func toUnstructured(m map[string]any) (*unstructured.Unstructured, error) {
	j, err := sigsyaml.Marshal(m)
	if err != nil {
		return nil, err
	}
	j, err = sigsyaml.YAMLToJSON(j)
	if err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(j); err != nil {
		return nil, err
	}
	return u, nil
}

func check(u *unstructured.Unstructured) error {
	switch {
	case u.GetAPIVersion() == "":
		return errors.New("apiVersion: required")
	case u.GetKind() == "":
		return errors.New("kind: required")
	case u.GetName() == "":
		return errors.New("metadata.name: required")
	}
	return nil
}

// substitute replaces ${VAR} in the object as Flux's postBuild does: on
// its YAML, strictly (a variable with no value and no default is an
// error), unless the object opts out.
func substitute(o Object, vars map[string]string) (Object, error) {
	if o.GetAnnotations()[SubstituteAnnotation] == "disabled" {
		return o, nil
	}
	y, err := sigsyaml.Marshal(o.Object)
	if err != nil {
		return o, fmt.Errorf("%s: %w", o.Origin, err)
	}
	out, err := envsubst.Eval(string(y), func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	})
	if err != nil {
		return o, fmt.Errorf("%s: %s/%s: substitution: %w", o.Origin, o.GetKind(), o.GetName(), err)
	}
	j, err := sigsyaml.YAMLToJSON([]byte(out))
	if err != nil {
		return o, fmt.Errorf("%s: %s/%s: after substitution: %w", o.Origin, o.GetKind(), o.GetName(), err)
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(j); err != nil {
		return o, fmt.Errorf("%s: %s/%s: after substitution: %w", o.Origin, o.GetKind(), o.GetName(), err)
	}
	return Object{Unstructured: u, Origin: o.Origin}, nil
}

// confined is a file system that reads only under root, links resolved:
// a kustomization naming /etc or ../../.. of the checkout is refused.
type confined struct {
	filesys.FileSystem
	root string
}

func (c confined) check(p string) error {
	abs, err := filepath.Abs(p)
	if err != nil {
		return err
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			real = abs // Kustomize asks about files that may not exist
		} else {
			return err
		}
	}
	rel, err := filepath.Rel(c.root, real)
	if err != nil || !filepath.IsLocal(rel) && rel != "." {
		return fmt.Errorf("%s: outside the repository", p)
	}
	return nil
}

func (c confined) Open(p string) (filesys.File, error) {
	if err := c.check(p); err != nil {
		return nil, err
	}
	return c.FileSystem.Open(p)
}

func (c confined) ReadFile(p string) ([]byte, error) {
	if err := c.check(p); err != nil {
		return nil, err
	}
	return c.FileSystem.ReadFile(p)
}

func (c confined) ReadDir(p string) ([]string, error) {
	if err := c.check(p); err != nil {
		return nil, err
	}
	return c.FileSystem.ReadDir(p)
}

func (c confined) IsDir(p string) bool  { return c.check(p) == nil && c.FileSystem.IsDir(p) }
func (c confined) Exists(p string) bool { return c.check(p) == nil && c.FileSystem.Exists(p) }
func (c confined) Walk(p string, fn filepath.WalkFunc) error {
	if err := c.check(p); err != nil {
		return err
	}
	return c.FileSystem.Walk(p, fn)
}

func (c confined) CleanedAbs(p string) (filesys.ConfirmedDir, string, error) {
	if err := c.check(p); err != nil {
		return "", "", err
	}
	return c.FileSystem.CleanedAbs(p)
}
