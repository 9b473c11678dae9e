package jenkinstest

import (
	"slices"
	"strings"
	"testing"
)

// The harness evaluates environment blocks as Jenkins does: a stage's
// when sees the pipeline's environment but not the stage's own, a value is
// a string ("null" for null) and an empty one unsets the variable.
func TestEnvironmentAsJenkinsEvaluatesIt(t *testing.T) {
	run := Execute(t, `
pipeline {
    agent none
    environment {
        GLOBAL = 'pipeline'
        EMPTIED = 'set'
    }
    stages {
        stage('own variable') {
            agent any
            when { expression { env.OWN == 'stage' } }
            environment { OWN = 'stage' }
            steps { sh 'echo never' }
        }
        stage('pipeline variable') {
            agent any
            when { expression { env.GLOBAL == 'pipeline' && env.OWN == null } }
            environment {
                OWN = 'stage'
                EMPTIED = ''
                NOTHING = null
            }
            steps { sh 'echo "own=$OWN emptied=${EMPTIED-unset} nothing=$NOTHING"' }
        }
    }
}
`, t.TempDir())
	if got, want := run.Ran(), []string{"pipeline variable"}; !slices.Equal(got, want) {
		t.Fatalf("ran %q, want %q", got, want)
	}
	if got := run.Output("pipeline variable", ""); !strings.Contains(got, "own=stage emptied=unset nothing=null\n") {
		t.Errorf("printed %q", got)
	}
}

// Steps need an agent, as in Jenkins.
func TestStepsWithoutAgentFail(t *testing.T) {
	run := Execute(t, `
pipeline {
    agent none
    stages {
        stage('nowhere') {
            steps { sh 'echo hi' }
        }
    }
}
`, t.TempDir())
	if run.Result == "SUCCESS" {
		t.Errorf("sh ran without an agent: %+v", run.Events)
	}
}
