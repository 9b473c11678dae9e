package store

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"time"
)

// Variable is a CI/CD variable of a project. Value holds the real value, for
// job execution; the JSON of a masked Variable carries MaskedValue instead,
// so an API answer never reveals it.
type Variable struct {
	ID        int64     `json:"id"`
	ProjectID int64     `json:"project_id"`
	Name      string    `json:"name"`
	Value     string    `json:"value"`
	Masked    bool      `json:"masked"`
	Protected bool      `json:"protected"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// MaskedValue replaces masked values in logs and API answers (GitLab's).
const MaskedValue = "[MASKED]"

// MinMaskedLen is the shortest value that may be masked (GitLab's rule: a
// shorter one would mask common words all over the logs).
const MinMaskedLen = 8

// MarshalJSON writes MaskedValue instead of a masked value.
func (v Variable) MarshalJSON() ([]byte, error) {
	type plain Variable
	if v.Masked {
		v.Value = MaskedValue
	}
	return json.Marshal(plain(v))
}

// Variables is a project's variables.
type Variables []Variable

// MaskedValues returns the values to scrub from job logs.
func (vs Variables) MaskedValues() []string {
	var out []string
	for _, v := range vs {
		if v.Masked && v.Value != "" {
			out = append(out, v.Value)
		}
	}
	return out
}

// Map returns name → value, for a job's environment; protected variables
// only when the ref is protected.
func (vs Variables) Map(protectedRef bool) map[string]string {
	m := make(map[string]string, len(vs))
	for _, v := range vs {
		if v.Protected && !protectedRef {
			continue
		}
		m[v.Name] = v.Value
	}
	return m
}

var variableName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func (v *Variable) validate() error {
	if !variableName.MatchString(v.Name) {
		return invalid("variable.name", "%q: want letters, digits and _, not starting with a digit", v.Name)
	}
	if v.Masked && !maskable.MatchString(v.Value) {
		return invalid("variable.value", "a masked value must be one line of at least %d characters, without spaces, "+
			"of letters, digits and _ + = / @ : . ~ - only (GitLab's rule)", MinMaskedLen)
	}
	return nil
}

// maskable is what GitLab lets a masked variable hold: a value that cannot
// hide in a log line (whitespace, line breaks) and that the log's escaping
// does not change, so that it is found and replaced.
var maskable = regexp.MustCompile(`^[a-zA-Z0-9_+=/@:.~-]{8,}$`)

const variableCols = "id, project_id, name, value, masked, protected, created_at, updated_at"

func scanVariable(r interface{ Scan(...any) error }) (Variable, error) {
	var v Variable
	err := r.Scan(&v.ID, &v.ProjectID, &v.Name, &v.Value, &v.Masked, &v.Protected, timeCol{&v.CreatedAt}, timeCol{&v.UpdatedAt})
	return v, err
}

// SetVariable creates the variable v.Name of project v.ProjectID or replaces
// its value and flags.
func (s *Store) SetVariable(ctx context.Context, v Variable) (Variable, error) {
	if err := v.validate(); err != nil {
		return Variable{}, err
	}
	t := now()
	row := s.conn().row(ctx, `INSERT INTO variables (project_id, name, value, masked, protected, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (project_id, name) DO UPDATE SET value = excluded.value, masked = excluded.masked,
			protected = excluded.protected, updated_at = excluded.updated_at
		RETURNING `+variableCols,
		v.ProjectID, v.Name, v.Value, v.Masked, v.Protected, t, t)
	out, err := scanVariable(row)
	if err != nil {
		return Variable{}, fmt.Errorf("store: set variable %s: %w", v.Name, constraint(err, "variable "+v.Name))
	}
	return out, nil
}

// ListVariables returns a project's variables by name, with their real
// values: for job execution. Their JSON masks the masked ones; logs are
// scrubbed with Variables.MaskedValues.
func (s *Store) ListVariables(ctx context.Context, projectID int64) (Variables, error) {
	rows, err := s.conn().query(ctx, "SELECT "+variableCols+" FROM variables WHERE project_id = ? ORDER BY name", projectID)
	if err != nil {
		return nil, fmt.Errorf("store: list variables: %w", err)
	}
	return collect(rows, scanVariable)
}

// DeleteVariable deletes a project's variable called name.
func (s *Store) DeleteVariable(ctx context.Context, projectID int64, name string) error {
	res, err := s.conn().exec(ctx, "DELETE FROM variables WHERE project_id = ? AND name = ?", projectID, name)
	if err != nil {
		return fmt.Errorf("store: delete variable %s: %w", name, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("store: variable %s of project %d: %w", name, projectID, ErrNotFound)
	}
	return nil
}
