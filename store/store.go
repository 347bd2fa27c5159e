// Package store keeps the room's history in SQLite, in one file in the data folder,
// through a pure-Go driver so the chat stays a single binary without cgo.
//
// A message's row id is its event id on the wire: it only grows, so a browser's
// Last-Event-ID says exactly where it stopped reading.
package store

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// FileName is the database file's name inside the data folder.
const FileName = "chat.db"

// DefaultKeep is how many room messages the store keeps; older ones are deleted.
const DefaultKeep = 10_000

// pruneEvery is how many appends pass between deletions of messages beyond the limit.
const pruneEvery = 100

// Kind says what a stored line of the room is.
type Kind string

// The kinds of lines the room keeps.
const (
	KindText   Kind = "text"   // a message
	KindAction Kind = "action" // "/me waves"
	KindJoin   Kind = "join"   // a session came online
	KindLeave  Kind = "leave"  // a session went offline
	KindRename Kind = "rename" // "/nick": Text holds the new nickname
)

// Message is one line of the room's history.
type Message struct {
	ID       int64
	Kind     Kind
	Nickname string
	Text     string
	Time     time.Time
}

// Store is the room's history. It is safe for concurrent use.
type Store struct {
	db      *sql.DB
	path    string
	keep    int
	appends atomic.Int64
}

// Open opens or creates the database in dir, creating dir if needed, and brings its
// schema up to date. It fails, naming the path, if the folder cannot be written or
// the file is not a healthy database.
func Open(ctx context.Context, dir string, keep int) (*Store, error) {
	if keep <= 0 {
		keep = DefaultKeep
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: create data folder %s: %w", dir, err)
	}

	path := filepath.Join(dir, FileName)
	dsn := "file:" + path + "?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)" +
		"&_pragma=synchronous(NORMAL)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}

	s := &Store{db: db, path: path, keep: keep}
	if err := s.check(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("store: close %s: %w", s.path, err)
	}
	return nil
}

// check fails early on a file that is not a database or is damaged, and on a folder
// where the write-ahead log cannot be created.
func (s *Store) check(ctx context.Context) error {
	var mode string
	if err := s.db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return fmt.Errorf("store: open %s: %w", s.path, err)
	}
	if mode != "wal" {
		return fmt.Errorf("store: open %s: journal mode is %q, want wal "+
			"(is the folder writable?)", s.path, mode)
	}

	var result string
	if err := s.db.QueryRowContext(ctx, "PRAGMA quick_check").Scan(&result); err != nil {
		return fmt.Errorf("store: check %s: %w", s.path, err)
	}
	if result != "ok" {
		return fmt.Errorf("store: check %s: database is damaged: %s", s.path, result)
	}
	return nil
}

// migrations are applied in order; PRAGMA user_version counts how many ran.
var migrations = []string{
	`CREATE TABLE messages (
		id       INTEGER PRIMARY KEY AUTOINCREMENT,
		kind     TEXT    NOT NULL,
		nickname TEXT    NOT NULL,
		text     TEXT    NOT NULL,
		sent_at  INTEGER NOT NULL
	)`,
	`CREATE TABLE revoked_sessions (
		session_id TEXT    PRIMARY KEY,
		until      INTEGER NOT NULL
	)`,
}

func (s *Store) migrate(ctx context.Context) error {
	var version int
	if err := s.db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return fmt.Errorf("store: read schema version of %s: %w", s.path, err)
	}
	if version > len(migrations) {
		return fmt.Errorf("store: %s has schema version %d, newer than this program's %d",
			s.path, version, len(migrations))
	}

	for i := version; i < len(migrations); i++ {
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("store: migrate %s: %w", s.path, err)
		}
		if _, err := tx.ExecContext(ctx, migrations[i]); err != nil {
			tx.Rollback()
			return fmt.Errorf("store: migrate %s to version %d: %w", s.path, i+1, err)
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", i+1)); err != nil {
			tx.Rollback()
			return fmt.Errorf("store: migrate %s to version %d: %w", s.path, i+1, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("store: migrate %s to version %d: %w", s.path, i+1, err)
		}
	}
	return nil
}

// Append stores m and returns it with its id. When Append returns, the message is
// committed: a crash of the process cannot lose it. Callers serialize appends with
// their broadcasts, so ids reach subscribers in order.
func (s *Store) Append(ctx context.Context, m Message) (Message, error) {
	res, err := s.db.ExecContext(ctx,
		"INSERT INTO messages (kind, nickname, text, sent_at) VALUES (?, ?, ?, ?)",
		string(m.Kind), m.Nickname, m.Text, m.Time.UnixMilli())
	if err != nil {
		return Message{}, fmt.Errorf("store: append message: %w", err)
	}
	if m.ID, err = res.LastInsertId(); err != nil {
		return Message{}, fmt.Errorf("store: append message: %w", err)
	}

	if s.appends.Add(1)%pruneEvery == 0 {
		if err := s.prune(ctx); err != nil {
			return m, err
		}
	}
	return m, nil
}

// prune deletes the messages beyond the newest s.keep.
func (s *Store) prune(ctx context.Context) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM messages WHERE id <=
		(SELECT id FROM messages ORDER BY id DESC LIMIT 1 OFFSET ?)`, s.keep)
	if err != nil {
		return fmt.Errorf("store: prune to %d messages: %w", s.keep, err)
	}
	return nil
}

// Recent returns the newest n messages, oldest first.
func (s *Store) Recent(ctx context.Context, n int) ([]Message, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, kind, nickname, text, sent_at FROM
		(SELECT * FROM messages ORDER BY id DESC LIMIT ?) ORDER BY id`, n)
	if err != nil {
		return nil, fmt.Errorf("store: read recent %d: %w", n, err)
	}
	return scan(rows)
}

// After returns up to limit messages with ids greater than id, oldest first.
func (s *Store) After(ctx context.Context, id int64, limit int) ([]Message, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, kind, nickname, text, sent_at
		FROM messages WHERE id > ? ORDER BY id LIMIT ?`, id, limit)
	if err != nil {
		return nil, fmt.Errorf("store: read after %d: %w", id, err)
	}
	return scan(rows)
}

// Bounds returns the oldest and newest ids kept, both zero when the room is empty.
// The newest id counts messages since deleted, so it never goes back.
func (s *Store) Bounds(ctx context.Context) (oldest, newest int64, err error) {
	err = s.db.QueryRowContext(ctx, `SELECT
		COALESCE((SELECT MIN(id) FROM messages), 0),
		COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'messages'), 0)`,
	).Scan(&oldest, &newest)
	if err != nil {
		return 0, 0, fmt.Errorf("store: read bounds: %w", err)
	}
	return oldest, newest, nil
}

// Revoke records that a session ended (logout) and its cookie must not be accepted
// again before until, when the cookie expires anyway. Expired records are dropped.
func (s *Store) Revoke(ctx context.Context, sessionID string, until time.Time) error {
	_, err := s.db.ExecContext(ctx,
		"INSERT OR REPLACE INTO revoked_sessions (session_id, until) VALUES (?, ?)",
		sessionID, until.UnixMilli())
	if err != nil {
		return fmt.Errorf("store: revoke session: %w", err)
	}
	_, err = s.db.ExecContext(ctx, "DELETE FROM revoked_sessions WHERE until < ?",
		time.Now().UnixMilli())
	if err != nil {
		return fmt.Errorf("store: drop expired revocations: %w", err)
	}
	return nil
}

// Revoked returns the sessions revoked and not yet expired, with when they expire.
func (s *Store) Revoked(ctx context.Context) (map[string]time.Time, error) {
	rows, err := s.db.QueryContext(ctx,
		"SELECT session_id, until FROM revoked_sessions WHERE until >= ?", time.Now().UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("store: read revocations: %w", err)
	}
	defer rows.Close()

	revoked := make(map[string]time.Time)
	for rows.Next() {
		var id string
		var until int64
		if err := rows.Scan(&id, &until); err != nil {
			return nil, fmt.Errorf("store: scan revocation: %w", err)
		}
		revoked[id] = time.UnixMilli(until)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: read revocations: %w", err)
	}
	return revoked, nil
}

// Keep returns how many messages the store keeps.
func (s *Store) Keep() int { return s.keep }

func scan(rows *sql.Rows) ([]Message, error) {
	defer rows.Close()

	var messages []Message
	for rows.Next() {
		var m Message
		var kind string
		var sentAt int64
		if err := rows.Scan(&m.ID, &kind, &m.Nickname, &m.Text, &sentAt); err != nil {
			return nil, fmt.Errorf("store: scan message: %w", err)
		}
		m.Kind = Kind(kind)
		m.Time = time.UnixMilli(sentAt).UTC()
		messages = append(messages, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: read messages: %w", err)
	}
	return messages, nil
}
