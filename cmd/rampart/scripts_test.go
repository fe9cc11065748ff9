package main

import (
	"strings"
	"testing"
)

// TestScriptsCommand: rampart scripts refuses what it cannot do with the
// setting and the fix, exit 2, and changes nothing.
func TestScriptsCommand(t *testing.T) {
	dataDir := t.TempDir()
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"no command", nil, "no command"},
		{"an unknown command", []string{"forget"}, "not a command"},
		{"approve without a URL", []string{"approve", "shop.test/checkout"}, "not a command"},
		{"list before any inventory", []string{"list"}, "no inventory"},
		{"approve without a justification", []string{"approve", "shop.test/checkout", "https://js.stripe.com/v3/", "--by", "ops"}, "justification"},
		{"approve before any inventory", []string{"approve", "shop.test/checkout", "https://js.stripe.com/v3/", "--justification", "card form", "--by", "ops"}, "no inventory"},
		{"an unknown flag", []string{"list", "--datadir", dataDir}, "flag provided but not defined"},
	} {
		var out, errOut strings.Builder
		args := append([]string{"scripts"}, tt.args...)
		if !strings.Contains(strings.Join(tt.args, " "), "datadir") {
			args = append(args, "--data-dir", dataDir)
		}
		code := run(t.Context(), args, environment{}, &out, &errOut)
		if code != exitUsage || !strings.Contains(errOut.String(), tt.want) || !strings.Contains(errOut.String(), "fix:") {
			t.Errorf("%s: exit %d, %q; want exit %d naming %q with a fix", tt.name, code, errOut.String(), exitUsage, tt.want)
		}
	}
}
