package main

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// writeCert writes a self-signed certificate for 127.0.0.1 with the given common name
// and returns it, so a test can tell which certificate a server presents.
func writeCert(t testing.TB, dir, commonName string) *x509.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	template := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: commonName},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("create certificate: %v", err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	os.WriteFile(filepath.Join(dir, "cert.pem"),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(filepath.Join(dir, "key.pem"),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	return cert
}

// tlsClient trusts any certificate (the test checks which one it got) and speaks
// HTTP/2.
func tlsClient() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{
		Jar:     jar,
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig:   &tls.Config{InsecureSkipVerify: true},
			ForceAttemptHTTP2: true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// openStream opens the session's event stream with client's cookies and no timeout, and
// returns the response and its lines as they arrive. The stream closes with the test.
func openStream(t *testing.T, client *http.Client, base string) (*http.Response,
	<-chan string) {
	t.Helper()
	streamClient := *client
	streamClient.Timeout = 0
	stream, err := streamClient.Get(base + "/events")
	if err != nil || stream.StatusCode != http.StatusOK {
		t.Fatalf("GET /events over TLS: %v %v", err, stream)
	}
	t.Cleanup(func() { stream.Body.Close() })

	lines := make(chan string, 1000)
	go func() {
		scanner := bufio.NewScanner(stream.Body)
		scanner.Buffer(nil, 1<<20)
		for scanner.Scan() {
			lines <- scanner.Text()
		}
		close(lines)
	}()
	return stream, lines
}

var redirectLine = regexp.MustCompile(`msg="also listening" addr=(\S+)`)

func TestTLSWithHTTP2RedirectAndReload(t *testing.T) {
	certs := t.TempDir()
	writeCert(t, certs, "first")
	words := filepath.Join(t.TempDir(), "words.txt")
	os.WriteFile(words, []byte("banana\n"), 0o600)
	p := startChat(t, "-addr", "127.0.0.1:0", "-data", t.TempDir(), "-words", words,
		"-tls-cert", filepath.Join(certs, "cert.pem"), "-tls-key", filepath.Join(certs, "key.pem"),
		"-redirect-addr", "127.0.0.1:0")
	base := strings.Replace(p.url, "http://", "https://", 1)
	client := tlsClient()

	resp, err := client.PostForm(base+"/login", url.Values{"nickname": {"Secure"}})
	if err != nil {
		t.Fatalf("login over TLS: %v", err)
	}
	resp.Body.Close()
	if resp.ProtoMajor != 2 {
		t.Errorf("protocol = %s, want HTTP/2", resp.Proto)
	}
	if got := resp.Header.Get("Strict-Transport-Security"); got == "" {
		t.Error("no Strict-Transport-Security header under TLS")
	}
	if c := resp.Cookies(); len(c) == 0 || !c[0].Secure {
		t.Errorf("session cookie under TLS = %v, want Secure", c)
	}

	t.Run("plain HTTP redirects to HTTPS", func(t *testing.T) {
		m := redirectLine.FindStringSubmatch(p.output.String())
		if m == nil {
			t.Fatalf("no redirect listener in the log:\n%s", p.output.String())
		}
		resp, err := client.Get("http://" + m[1] + "/some/path?q=1")
		if err != nil {
			t.Fatalf("GET over plain HTTP: %v", err)
		}
		resp.Body.Close()
		_, port, _ := net.SplitHostPort(strings.TrimPrefix(p.url, "http://"))
		want := "https://127.0.0.1:" + port + "/some/path?q=1"
		if resp.StatusCode != http.StatusPermanentRedirect || resp.Header.Get("Location") != want {
			t.Errorf("redirect = %d %q, want 308 %q", resp.StatusCode,
				resp.Header.Get("Location"), want)
		}
	})

	_, lines := openStream(t, client, base)
	post := func(text string) {
		t.Helper()
		resp, err := client.PostForm(base+"/messages", url.Values{"text": {text}})
		if err != nil {
			t.Fatalf("post %q: %v", text, err)
		}
		resp.Body.Close()
	}
	waitLine := func(want string) {
		t.Helper()
		deadline := time.After(5 * time.Second)
		for {
			select {
			case line, ok := <-lines:
				if !ok {
					t.Fatalf("stream ended waiting for %q", want)
				}
				if strings.Contains(line, want) {
					return
				}
			case <-deadline:
				t.Fatalf("no line with %q within 5 s", want)
			}
		}
	}

	post("I like banana")
	waitLine("Please don")

	writeCert(t, certs, "second")
	os.WriteFile(words, []byte("cherry\n"), 0o600)
	p.cmd.Process.Signal(syscall.SIGHUP)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(p.output.String(), "reloaded TLS certificate") {
		if time.Now().After(deadline) {
			t.Fatalf("no reload in the log:\n%s", p.output.String())
		}
		time.Sleep(20 * time.Millisecond)
	}

	conn, err := tls.Dial("tcp", strings.TrimPrefix(base, "https://"),
		&tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatalf("TLS dial after reload: %v", err)
	}
	conn.Close()
	if got := conn.ConnectionState().PeerCertificates[0].Subject.CommonName; got != "second" {
		t.Errorf("certificate after SIGHUP = %q, want second", got)
	}

	post("I like banana again")
	waitLine("I like banana again") // the open stream survived and the new list applies
}

// TestTLSStreamOverHTTP1 holds a stream over HTTP/1.1 inside TLS, which the chat takes
// over from net/http like a plain one. Its socket carries TLS records, so the hub must
// never write frames to it directly: the messages must arrive readable and in order.
func TestTLSStreamOverHTTP1(t *testing.T) {
	certs := t.TempDir()
	writeCert(t, certs, "h1")
	p := startChat(t, "-addr", "127.0.0.1:0", "-data", t.TempDir(),
		"-tls-cert", filepath.Join(certs, "cert.pem"), "-tls-key", filepath.Join(certs, "key.pem"))
	base := strings.Replace(p.url, "http://", "https://", 1)
	client := tlsClient()
	client.Transport = &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}},
	}
	resp, err := client.PostForm(base+"/login", url.Values{"nickname": {"Oldie"}})
	if err != nil {
		t.Fatalf("login over TLS: %v", err)
	}
	resp.Body.Close()

	stream, lines := openStream(t, client, base)
	if stream.ProtoMajor != 1 {
		t.Fatalf("stream protocol = %s, want HTTP/1.1", stream.Proto)
	}

	texts := []string{"first over http one", "second over http one", "third over http one"}
	for _, text := range texts {
		resp, err := client.PostForm(base+"/messages", url.Values{"text": {text}})
		if err != nil {
			t.Fatalf("post %q: %v", text, err)
		}
		resp.Body.Close()
	}

	deadline := time.After(5 * time.Second)
	for next := 0; next < len(texts); {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("stream ended after %d of %d messages", next, len(texts))
			}
			if strings.Contains(line, texts[next]) {
				next++
			}
		case <-deadline:
			t.Fatalf("got %d of %d messages in order within 5 s", next, len(texts))
		}
	}
}
