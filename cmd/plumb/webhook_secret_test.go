package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A webhook secret shorter than 16 bytes, or only whitespace, stops plumb
// serve at start rather than guarding the webhooks weakly.
func TestWebhookSecretStrength(t *testing.T) {
	cases := []struct {
		name, content, want string // want: "" for accepted
	}{
		{"16 bytes", "0123456789abcdef", ""},
		{"with echo's newline", "0123456789abcdef0123\n", ""},
		{"short", "hunter2", "is 7 bytes; at least 16"},
		{"one space", " ", "only whitespace"},
		{"blank line of spaces", strings.Repeat(" ", 20) + "\n", "only whitespace"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "secret")
			if err := os.WriteFile(file, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := webhookSecret(file)
			switch {
			case tc.want == "" && (err != nil || string(got) != strings.TrimRight(tc.content, "\n")):
				t.Errorf("secret %q, error %v; want it accepted", got, err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("error %v, want one saying %q", err, tc.want)
			}
			if err != nil && tc.content != " " && strings.Contains(err.Error(), strings.TrimSpace(tc.content)) && strings.TrimSpace(tc.content) != "" {
				t.Errorf("the error shows the secret: %v", err)
			}
		})
	}
}
