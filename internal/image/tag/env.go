package tag

// FromCI fills the fields of v that a job's predefined variables know:
// CI_COMMIT_REF_NAME (the branch, or the tag of a tag pipeline),
// CI_COMMIT_SHA and CI_PIPELINE_ID. Fields already set are kept, and
// fields the variables do not give stay empty (the caller asks git).
func FromCI(v Vars, getenv func(string) string) Vars {
	if v.Ref == "" {
		v.Ref = getenv("CI_COMMIT_REF_NAME")
	}
	if v.SHA == "" {
		v.SHA = getenv("CI_COMMIT_SHA")
	}
	if v.PipelineID == "" {
		v.PipelineID = getenv("CI_PIPELINE_ID")
	}
	return v
}
