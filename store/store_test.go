package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func openTest(t testing.TB, dir string, keep int) *Store {
	t.Helper()
	s, err := Open(context.Background(), dir, keep)
	if err != nil {
		t.Fatalf("Open(%s) error = %v", dir, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func appendTexts(t testing.TB, s *Store, n int) []Message {
	t.Helper()
	var out []Message
	for i := range n {
		m, err := s.Append(context.Background(), Message{Kind: KindText, Nickname: "Ann",
			Text: fmt.Sprint("message ", i), Time: time.UnixMilli(int64(1000 + i))})
		if err != nil {
			t.Fatalf("Append(%d) error = %v", i, err)
		}
		out = append(out, m)
	}
	return out
}

func ids(messages []Message) string {
	parts := make([]string, len(messages))
	for i, m := range messages {
		parts[i] = fmt.Sprint(m.ID)
	}
	return strings.Join(parts, ",")
}

func TestAppendRecentAfter(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir(), 0)
	appendTexts(t, s, 5)

	tests := []struct {
		name string
		read func() ([]Message, error)
		want string
	}{
		{"recent 3", func() ([]Message, error) { return s.Recent(ctx, 3) }, "3,4,5"},
		{"recent more than kept", func() ([]Message, error) { return s.Recent(ctx, 10) },
			"1,2,3,4,5"},
		{"after 2", func() ([]Message, error) { return s.After(ctx, 2, 10) }, "3,4,5"},
		{"after 2 limit 2", func() ([]Message, error) { return s.After(ctx, 2, 2) }, "3,4"},
		{"after newest", func() ([]Message, error) { return s.After(ctx, 5, 10) }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.read()
			if err != nil {
				t.Fatalf("read error = %v", err)
			}
			if ids(got) != tt.want {
				t.Errorf("ids = %q, want %q", ids(got), tt.want)
			}
		})
	}

	got, _ := s.Recent(ctx, 1)
	want := Message{ID: 5, Kind: KindText, Nickname: "Ann", Text: "message 4",
		Time: time.UnixMilli(1004).UTC()}
	if got[0] != want {
		t.Errorf("Recent(1)[0] = %+v, want %+v", got[0], want)
	}
}

func TestPruneKeepsNewestAndIDsOnlyGrow(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir(), 50)
	appendTexts(t, s, 2*pruneEvery)

	oldest, newest, err := s.Bounds(ctx)
	if err != nil {
		t.Fatalf("Bounds() error = %v", err)
	}
	if oldest != 2*pruneEvery-49 || newest != 2*pruneEvery {
		t.Errorf("Bounds() = %d, %d, want %d, %d", oldest, newest, 2*pruneEvery-49, 2*pruneEvery)
	}

	next := appendTexts(t, s, 1)[0]
	if next.ID != 2*pruneEvery+1 {
		t.Errorf("id after pruning = %d, want %d", next.ID, 2*pruneEvery+1)
	}
}

func TestReopenKeepsHistory(t *testing.T) {
	dir := t.TempDir()
	first, err := Open(context.Background(), dir, 0)
	if err != nil {
		t.Fatalf("Open error = %v", err)
	}
	appendTexts(t, first, 3)
	first.Close()

	second := openTest(t, dir, 0)
	got, err := second.Recent(context.Background(), 10)
	if err != nil || ids(got) != "1,2,3" {
		t.Errorf("Recent after reopen = %q, %v, want \"1,2,3\", nil", ids(got), err)
	}
}

func TestOpenFailsNamingThePath(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "file")
	os.WriteFile(blocker, []byte("x"), 0o600)
	corrupt := filepath.Join(dir, "corrupt")
	os.MkdirAll(corrupt, 0o700)
	os.WriteFile(filepath.Join(corrupt, FileName), []byte(strings.Repeat("not sqlite ", 500)),
		0o600)

	tests := []struct {
		name string
		dir  string
		want string
	}{
		{"folder cannot be created", filepath.Join(blocker, "data"), blocker},
		{"not a database", corrupt, filepath.Join(corrupt, FileName)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(context.Background(), tt.dir, 0)
			if err == nil {
				s.Close()
				t.Fatalf("Open(%s) error = nil, want an error", tt.dir)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Open(%s) error = %q, want it to name %s", tt.dir, err, tt.want)
			}
		})
	}
}

func TestRevocationsSurviveReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	first := openTest(t, dir, 0)
	if err := first.Revoke(ctx, "gone", time.Now().Add(time.Hour)); err != nil {
		t.Fatalf("Revoke error = %v", err)
	}
	if err := first.Revoke(ctx, "expired", time.Now().Add(-time.Second)); err != nil {
		t.Fatalf("Revoke error = %v", err)
	}
	first.Close()

	revoked, err := openTest(t, dir, 0).Revoked(ctx)
	if err != nil {
		t.Fatalf("Revoked error = %v", err)
	}
	if _, ok := revoked["gone"]; !ok || len(revoked) != 1 {
		t.Errorf("Revoked() = %v, want only the unexpired \"gone\"", revoked)
	}
}
