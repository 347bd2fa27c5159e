package main

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// keysFile holds the generated cookie keys in the data folder.
const keysFile = "cookie-keys"

// loadOrCreateKeys returns the cookie keys kept in dir, generating them on first use,
// so that a restart does not log everyone out. The file is readable by its owner only.
func loadOrCreateKeys(dir string) ([][]byte, error) {
	path := filepath.Join(dir, keysFile)

	content, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return createKeys(path)
	}
	if err != nil {
		return nil, fmt.Errorf("read cookie keys %s: %w", path, err)
	}

	var pairs []string
	scanner := bufio.NewScanner(strings.NewReader(string(content)))
	for scanner.Scan() {
		line := strings.TrimSpace(scanner.Text())
		if line != "" && !strings.HasPrefix(line, "#") {
			pairs = append(pairs, line)
		}
	}
	keys, err := parseCookieKeys(strings.Join(pairs, ","))
	if err != nil {
		return nil, fmt.Errorf("read cookie keys %s: %w", path, err)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("read cookie keys %s: no HASH:BLOCK line", path)
	}
	return keys, nil
}

func createKeys(path string) ([][]byte, error) {
	hash, block := make([]byte, 64), make([]byte, 32)
	rand.Read(hash)
	rand.Read(block)

	line := "# Cookie keys (HASH:BLOCK in hex), newest first. Keep this file secret.\n" +
		hex.EncodeToString(hash) + ":" + hex.EncodeToString(block) + "\n"
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create cookie keys %s: %w", path, err)
	}
	if _, err := f.WriteString(line); err != nil {
		f.Close()
		return nil, fmt.Errorf("write cookie keys %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("write cookie keys %s: %w", path, err)
	}
	return [][]byte{hash, block}, nil
}
