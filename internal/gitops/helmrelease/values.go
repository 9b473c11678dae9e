package helmrelease

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"helm.sh/helm/v4/pkg/strvals"
	"sigs.k8s.io/yaml"
)

// Values merges the spec's values in Flux's order: each valuesFrom in
// turn (a key's YAML merged over what is there, or with targetPath its
// raw value set at that path), then the inline values over them.
func Values(ctx context.Context, spec Spec, data Data) (map[string]any, error) {
	out := map[string]any{}
	for i, vf := range spec.ValuesFrom {
		key := vf.ValuesKey
		if key == "" {
			key = "values.yaml"
		}
		d, found, err := data(ctx, vf.Kind, vf.Name)
		if err != nil {
			return nil, fmt.Errorf("valuesFrom[%d]: %w", i, err)
		}
		v, ok := d[key]
		if !found || !ok {
			if vf.Optional {
				continue
			}
			if !found {
				return nil, fmt.Errorf("valuesFrom[%d]: %s %s/%s not found", i, vf.Kind, spec.Namespace, vf.Name)
			}
			return nil, fmt.Errorf("valuesFrom[%d]: %s %s/%s has no key %q", i, vf.Kind, spec.Namespace, vf.Name, key)
		}
		if vf.TargetPath != "" {
			// The path is read as helm --set-string reads one (a.b[0].c);
			// the value is one string: its commas and backslashes escaped.
			esc := strings.NewReplacer(`\`, `\\`, ",", `\,`).Replace(v)
			if err := strvals.ParseIntoString(vf.TargetPath+"="+esc, out); err != nil {
				return nil, fmt.Errorf("valuesFrom[%d]: targetPath %q: %w", i, vf.TargetPath, err)
			}
			continue
		}
		var m map[string]any
		if err := yaml.Unmarshal([]byte(v), &m); err != nil {
			return nil, fmt.Errorf("valuesFrom[%d]: %s %s key %s: %w", i, vf.Kind, vf.Name, key, err)
		}
		out = merge(out, m)
	}
	return merge(out, spec.Values), nil
}

// merge puts src over dst, tables merged key by key.
func merge(dst, src map[string]any) map[string]any {
	for k, v := range src {
		if sm, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				dst[k] = merge(dm, sm)
				continue
			}
		}
		dst[k] = v
	}
	return dst
}

// digest identifies values whatever their maps' order.
func digest(v map[string]any) string {
	if v == nil {
		v = map[string]any{}
	}
	b, _ := json.Marshal(v) // maps marshal with sorted keys
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
