package store_test

import (
	"context"
	"testing"

	"github.com/slipway-cd/slipway/internal/store"
	"github.com/slipway-cd/slipway/internal/store/storetest"
)

// TestMaskedVariablesFollowGitLabsRules: a masked value is one line of at
// least 8 characters from GitLab's alphabet; anything else is refused
// naming the field, as a value with a space or a tab could escape the
// log's masking.
func TestMaskedVariablesFollowGitLabsRules(t *testing.T) {
	s := open(t, storetest.SQLiteURL(t))
	p := mustProject(t, s, "shop")
	ctx := context.Background()
	for _, bad := range []string{"1234", "pass word 123", "pass\tword123", "line1\nline2-long", "dollar$value1", "pässwörter-1", `quote"value1`} {
		_, err := s.SetVariable(ctx, store.Variable{ProjectID: p.ID, Name: "TOKEN", Value: bad, Masked: true})
		wantField(t, err, "variable.value")
	}
	for _, good := range []string{"tok-3f9a8b7c6d5e", "a+b/c=d@e:f.g~h_i", "QmFzZTY0PT0="} {
		if _, err := s.SetVariable(ctx, store.Variable{ProjectID: p.ID, Name: "TOKEN", Value: good, Masked: true}); err != nil {
			t.Errorf("masked %q: %v", good, err)
		}
	}
	// Unmasked values may hold anything.
	if _, err := s.SetVariable(ctx, store.Variable{ProjectID: p.ID, Name: "MOTD", Value: "hello world $USER"}); err != nil {
		t.Errorf("an unmasked value with spaces: %v", err)
	}
}
