package registry

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/bmatcuk/doublestar/v4"
	"go.yaml.in/yaml/v3"

	"github.com/slipway-cd/slipway/internal/yamlsyntax"
)

// Token is a per-project credential: it may pull, or pull and push, in the
// repositories its globs match (doublestar syntax: "team/app", "team/**").
type Token struct {
	Name         string   `yaml:"name"`
	SHA256       string   `yaml:"sha256"` // hex SHA-256 of the secret; the secret itself is never stored
	Repositories []string `yaml:"repositories"`
	Access       string   `yaml:"access"` // pull or push
}

// Allows returns the access the token grants in repo.
func (t Token) Allows(repo string) Access {
	for _, g := range t.Repositories {
		if ok, _ := doublestar.Match(g, repo); ok {
			return parseAccess(t.Access)
		}
	}
	return AccessNone
}

func parseAccess(s string) Access {
	switch s {
	case "pull":
		return AccessPull
	case "push":
		return AccessPush
	}
	return AccessNone
}

// TokenFile is the YAML token file:
//
//	tokens:
//	  - name: webapp-ci
//	    sha256: 9f86d0...   # slipway registry token create prints the secret once
//	    repositories: ["team/webapp", "team/webapp/**"]
//	    access: push
type TokenFile struct {
	Tokens []Token `yaml:"tokens"`

	byHash map[string]Token
}

// LoadTokenFile reads and validates a token file; errors name file:line:col.
func LoadTokenFile(path string) (*TokenFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("token file: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, yamlsyntax.InFile(path, data, err)
	}
	tf := &TokenFile{byHash: map[string]Token{}}
	if len(doc.Content) == 0 {
		return tf, nil
	}
	root := doc.Content[0]
	if err := root.Decode(tf); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	items := valueOf(root, "tokens")
	for i, t := range tf.Tokens {
		pos := func(field string) string {
			n := root
			if items != nil && i < len(items.Content) {
				n = items.Content[i]
				if v := valueOf(n, field); v != nil {
					n = v
				}
			}
			return fmt.Sprintf("%s:%d:%d: tokens[%d].%s", path, n.Line, n.Column, i, field)
		}
		switch {
		case t.Name == "":
			return nil, fmt.Errorf("%s: is required", pos("name"))
		case len(t.SHA256) != 64 || !isHex(t.SHA256):
			return nil, fmt.Errorf("%s: want the 64-digit hex SHA-256 of the secret", pos("sha256"))
		case len(t.Repositories) == 0:
			return nil, fmt.Errorf("%s: list at least one repository glob", pos("repositories"))
		case parseAccess(t.Access) == AccessNone:
			return nil, fmt.Errorf("%s: %q is neither pull nor push", pos("access"), t.Access)
		}
		for _, g := range t.Repositories {
			if !doublestar.ValidatePattern(g) {
				return nil, fmt.Errorf("%s: bad glob %q", pos("repositories"), g)
			}
		}
		tf.byHash[strings.ToLower(t.SHA256)] = t
	}
	return tf, nil
}

// NewTokenFile holds tokens in memory, as LoadTokenFile would after reading them.
func NewTokenFile(tokens ...Token) *TokenFile {
	tf := &TokenFile{Tokens: tokens, byHash: map[string]Token{}}
	for _, t := range tokens {
		tf.byHash[strings.ToLower(t.SHA256)] = t
	}
	return tf
}

// LookupToken implements TokenSource.
func (tf *TokenFile) LookupToken(secret string) (Token, bool) {
	sum := sha256.Sum256([]byte(secret))
	t, ok := tf.byHash[hex.EncodeToString(sum[:])]
	return t, ok
}

// NewToken makes a random secret and the token entry that stores its hash.
func NewToken(name string, repositories []string, access string) (secret string, t Token, err error) {
	if parseAccess(access) == AccessNone {
		return "", Token{}, fmt.Errorf("access %q is neither pull nor push", access)
	}
	if name == "" || len(repositories) == 0 {
		return "", Token{}, errors.New("a token needs a name and at least one repository glob")
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", Token{}, fmt.Errorf("token: %w", err)
	}
	secret = "slp_" + base64.RawURLEncoding.EncodeToString(b)
	sum := sha256.Sum256([]byte(secret))
	return secret, Token{Name: name, SHA256: hex.EncodeToString(sum[:]), Repositories: repositories, Access: access}, nil
}

func valueOf(mapping *yaml.Node, key string) *yaml.Node {
	if mapping == nil || mapping.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(mapping.Content); i += 2 {
		if mapping.Content[i].Value == key {
			return mapping.Content[i+1]
		}
	}
	return nil
}

func isHex(s string) bool {
	_, err := hex.DecodeString(s)
	return err == nil
}
