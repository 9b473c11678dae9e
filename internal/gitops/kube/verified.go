package kube

import (
	"crypto/sha256"
	"encoding/json"
	"maps"
	"sync"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// verified remembers, per owner, the objects the last pass found already
// as git asks, with what git asked (a digest) and the resourceVersion the
// object had when the pass read it. An object whose desired state and
// resourceVersion are both the same at the next pass cannot have changed
// on either side, so that pass needs no dry run of it: a pass over 1,000
// unchanged objects costs a few LISTs instead of 1,000 dry-run applies
// (20 s on a loaded two-core machine). Any change, even to a field git
// does not set, changes the resourceVersion and sends the object through
// the dry run again; a new process starts with nothing verified.
type verified struct {
	mu   sync.Mutex
	objs map[Owner]map[Ref]check
}

type check struct {
	desired         [sha256.Size]byte
	resourceVersion string
}

func (v *verified) get(owner Owner) map[Ref]check {
	v.mu.Lock()
	defer v.mu.Unlock()
	return maps.Clone(v.objs[owner])
}

// update records what one apply verified of its objects (refs), and
// forgets the others of them; what the owner's other applies (its other
// sync waves) verified stays.
func (v *verified) update(owner Owner, refs []Ref, now map[Ref]check) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.objs == nil {
		v.objs = map[Owner]map[Ref]check{}
	}
	m := v.objs[owner]
	if m == nil {
		m = map[Ref]check{}
		v.objs[owner] = m
	}
	for _, r := range refs {
		if ck, ok := now[r]; ok {
			m[r] = ck
		} else {
			delete(m, r)
		}
	}
}

// digest is the digest of an object as it is to be applied.
func digest(u *unstructured.Unstructured) [sha256.Size]byte {
	b, err := json.Marshal(u.Object) // map keys sorted: the same object gives the same bytes
	if err != nil {
		return [sha256.Size]byte{} // never matches a recorded digest of a marshalled object
	}
	return sha256.Sum256(b)
}
