package imageupdate_test

import (
	"strings"
	"testing"

	"github.com/slipway-cd/slipway/internal/gitops/imagepolicy"
	"github.com/slipway-cd/slipway/internal/gitops/imageupdate"
)

var selected = map[string]imagepolicy.Result{
	"app":    {Policy: "app", Image: "reg:5000/team/app", Tag: "1.2.0", Digest: "sha256:1111"},
	"pinned": {Policy: "pinned", Image: "reg:5000/team/api", Tag: "2.0.1", Digest: "sha256:2222", PinDigest: true},
}

func TestRewriteChangesOnlyTheMarkedValues(t *testing.T) {
	in := "# app: the marker comments stay\r\n" +
		"spec:\n" +
		"  containers:\n" +
		"    - image: reg:5000/team/app:1.0.0 # {\"$imagepolicy\": \"app\"}\n" +
		"    - image: \"reg:5000/team/app:0.9\"   #{\"$imagepolicy\":\"app\"}   trailing words\n" +
		"    - image: reg:5000/team/app:1.0.0\n" +
		"      tag: '1.0.0' # {\"$imagepolicy\": \"app:tag\"}\r\n" +
		"\trepo: old/name # {\"$imagepolicy\": \"app:name\"}\n" +
		"digest: \"\" # {\"$imagepolicy\": \"app:digest\"}\n" +
		"IMAGE=reg:5000/team/api:1.0 # {\"$imagepolicy\": \"pinned\"}\n" +
		"Prose may mention $imagepolicy outside a comment.\n" +
		"already: reg:5000/team/app:1.2.0 # {\"$imagepolicy\": \"app\"}"
	want := "# app: the marker comments stay\r\n" +
		"spec:\n" +
		"  containers:\n" +
		"    - image: reg:5000/team/app:1.2.0 # {\"$imagepolicy\": \"app\"}\n" +
		"    - image: \"reg:5000/team/app:1.2.0\"   #{\"$imagepolicy\":\"app\"}   trailing words\n" +
		"    - image: reg:5000/team/app:1.0.0\n" +
		"      tag: '1.2.0' # {\"$imagepolicy\": \"app:tag\"}\r\n" +
		"\trepo: reg:5000/team/app # {\"$imagepolicy\": \"app:name\"}\n" +
		"digest: \"sha256:1111\" # {\"$imagepolicy\": \"app:digest\"}\n" +
		"IMAGE=reg:5000/team/api:2.0.1@sha256:2222 # {\"$imagepolicy\": \"pinned\"}\n" +
		"Prose may mention $imagepolicy outside a comment.\n" +
		"already: reg:5000/team/app:1.2.0 # {\"$imagepolicy\": \"app\"}"
	out, changes, err := imageupdate.Rewrite("deploy/app.yaml", []byte(in), selected)
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != want {
		t.Fatalf("got\n%q\nwant\n%q", out, want)
	}
	wantChanges := []imageupdate.Change{
		{File: "deploy/app.yaml", Line: 4, Marker: "app", Old: "reg:5000/team/app:1.0.0", New: "reg:5000/team/app:1.2.0"},
		{File: "deploy/app.yaml", Line: 5, Marker: "app", Old: "reg:5000/team/app:0.9", New: "reg:5000/team/app:1.2.0"},
		{File: "deploy/app.yaml", Line: 7, Marker: "app:tag", Old: "1.0.0", New: "1.2.0"},
		{File: "deploy/app.yaml", Line: 8, Marker: "app:name", Old: "old/name", New: "reg:5000/team/app"},
		{File: "deploy/app.yaml", Line: 9, Marker: "app:digest", Old: "", New: "sha256:1111"},
		{File: "deploy/app.yaml", Line: 10, Marker: "pinned", Old: "reg:5000/team/api:1.0", New: "reg:5000/team/api:2.0.1@sha256:2222"},
	}
	if len(changes) != len(wantChanges) {
		t.Fatalf("changes %+v, want %+v", changes, wantChanges)
	}
	for i := range changes {
		if changes[i] != wantChanges[i] {
			t.Errorf("change %d: %+v, want %+v", i, changes[i], wantChanges[i])
		}
	}
	// Applying the result again changes nothing.
	again, changes, err := imageupdate.Rewrite("deploy/app.yaml", out, selected)
	if err != nil || len(changes) != 0 || string(again) != want {
		t.Errorf("second rewrite: %d changes, %v", len(changes), err)
	}
}

func TestRewriteErrorsNameFileLineAndColumn(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"a: 1\nimage: x:1 # {\"$imagepolicy\": \"nope\"}\n", `f.yaml:2:32: image policy marker "nope": no image policy named "nope" (known: app, pinned)`},
		{"image: x:1 # {\"$imagepolicy\": \"app:size\"}\n", `f.yaml:1:32: image policy marker "app:size": unknown part "size" (want tag, name or digest)`},
		{"image: x:1 # {\"$imagepolicy\": \"app:\"}\n", `f.yaml:1:32: image policy marker "app:": unknown part "" (want tag, name or digest)`},
		{"image: x:1 # {\"$imagepolicy\": app}\n", `f.yaml:1:16: malformed image policy marker`},
		{"image: x:1 # {$imagepolicy: \"app\"}\n", `f.yaml:1:15: malformed image policy marker`},
		{"  # {\"$imagepolicy\": \"app\"}\n", `f.yaml:1:3: image policy marker "app": no value before it to update`},
		{"é: x:1 # {\"$imagepolicy\": \"zz\"}\n", `f.yaml:1:28: image policy marker "zz"`},
	} {
		_, _, err := imageupdate.Rewrite("f.yaml", []byte(tc.in), selected)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.in, err, tc.want)
		}
	}
	_, _, err := imageupdate.Rewrite("f.yaml", []byte("a: b # {\"$imagepolicy\": \"x\"}\nc: d # {\"$imagepolicy\": \"y\"}\n"), selected)
	if err == nil || !strings.Contains(err.Error(), "f.yaml:1:") || !strings.Contains(err.Error(), "f.yaml:2:") {
		t.Errorf("every bad marker is reported: %v", err)
	}
}

// A repository written for Flux names its policies namespace:name: the
// namespace is left out (Slipway's policies have none), so
// flux-system:app is the policy app.
func TestRewriteReadsFluxNamespaceMarkers(t *testing.T) {
	in := "image: reg:5000/team/app:1.0.0 # {\"$imagepolicy\": \"flux-system:app\"}\n" +
		"tag: 1.0.0 # {\"$imagepolicy\": \"flux-system:app:tag\"}\n"
	want := "image: reg:5000/team/app:1.2.0 # {\"$imagepolicy\": \"flux-system:app\"}\n" +
		"tag: 1.2.0 # {\"$imagepolicy\": \"flux-system:app:tag\"}\n"
	out, changes, err := imageupdate.Rewrite("deploy/app.yaml", []byte(in), selected)
	if err != nil || string(out) != want || len(changes) != 2 {
		t.Fatalf("got %q, %+v, %v; want\n%q", out, changes, err, want)
	}
	_, _, err = imageupdate.Rewrite("f.yaml", []byte("image: x:1 # {\"$imagepolicy\": \"flux-system:web\"}\n"), selected)
	if want := `f.yaml:1:32: image policy marker "flux-system:web": no image policy named "web" (known: app, pinned)`; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("a Flux marker of an unknown policy: %v, want %q", err, want)
	}
}
