package tier

import "testing"

func TestGuess(t *testing.T) {
	for name, want := range map[string]string{
		"production": Production, "prod/eu": Production, "live": Production, "pre-production": Staging,
		"staging": Staging, "review/feature-x": Development, "dev": Development, "qa": Testing,
		"integration": Testing, "sandbox": Other, "us-live": Production,
	} {
		if got := Guess(name); got != want {
			t.Errorf("Guess(%q) = %s, want %s", name, got, want)
		}
	}
	if !Valid(Staging) || Valid("moon") {
		t.Error("Valid")
	}
}
