package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// tabsPerPerson is how many tabs of the room one person opens in the HTTPS test: more
// than the six connections per site that a browser allows over HTTP/1.1.
const tabsPerPerson = 8

// TestEightTabsOverHTTP2 is case C03: one person with eight tabs of the room, over
// HTTPS. HTTP/2 carries every stream on one connection, so all eight get a live
// stream (where HTTP/1.1 would stall the seventh, see TestSeventhTabWaitsOverHTTP1),
// and a post from the last tab reaches every tab.
func TestEightTabsOverHTTP2(t *testing.T) {
	certFile, keyFile, roots := writeSelfSignedCert(t)
	srv := startServer(t, withTLS(certFile, keyFile, roots))
	// A browser of this test's own trusts the self-signed certificate; the shared one
	// keeps checking certificates.
	root := startPrivateBrowser(t, chromedp.IgnoreCertErrors)

	first := newUserIn(t, root, srv.URL(), "Alice")
	tabs := []*tab{first}
	for i := 2; i <= tabsPerPerson; i++ {
		// A tab opened from the first shares its browser context: the same cookie.
		next := first.newTab(t, fmt.Sprintf("Alice (tab %d)", i))
		next.waitConnected(t, 0)
		tabs = append(tabs, next)
	}
	for _, page := range tabs {
		if s := liveStream(t, page, 0); s.protocol != "h2" {
			t.Errorf("%s: the /events stream came over %q, want h2: %v", page.name,
				s.protocol, s)
		}
	}
	checkOneLiveStream(t, tabs...)

	last := tabs[len(tabs)-1]
	last.post(t, "Hello from the eighth tab.")
	for _, page := range tabs {
		page.waitMessage(t, deliveryTimeout, "Alice", "Hello from the eighth tab.")
	}
}

// TestSeventhTabWaitsOverHTTP1 shows why the app needs HTTP/2 for many tabs: over
// plain HTTP/1.1 a browser opens at most six connections to a site, and each open tab
// holds one with its stream. So a seventh tab's page does not even load while six tabs
// are open, and it loads, and connects, as soon as one of them closes.
func TestSeventhTabWaitsOverHTTP1(t *testing.T) {
	requireBrowser(t)
	srv := startServer(t)
	first := newUser(t, srv.URL(), "Alice")
	tabs := []*tab{first}
	for i := 2; i <= 6; i++ {
		next := first.newTab(t, fmt.Sprintf("Alice (tab %d)", i))
		next.waitConnected(t, 0)
		tabs = append(tabs, next)
	}
	for _, page := range tabs {
		if s := liveStream(t, page, 0); s.protocol != "http/1.1" {
			t.Fatalf("%s: the /events stream came over %q, want http/1.1: %v",
				page.name, s.protocol, s)
		}
	}

	// The load is started from the page, so that the test does not block on it.
	seventh := openBlankTab(t, first.ctx, srv.URL(), "Alice (tab 7)")
	evalJS[bool](t, seventh, fmt.Sprintf(`(location.assign(%q), true)`, srv.URL()+"/"))

	// That it never loads can only be watched for a while: a second is many times what
	// loading the room takes here.
	waitFor(t, 2*time.Second, "the seventh tab's request for the room", func() (bool, string) {
		docs := seventh.watch.documentsSnapshot()
		return len(docs) > 0, fmt.Sprintf("page loads %v", docs)
	})
	wait := time.Now().Add(time.Second)
	for time.Now().Before(wait) {
		docs := seventh.watch.documentsSnapshot()
		if docs[len(docs)-1].status != 0 || len(seventh.watch.streamsSnapshot()) != 0 {
			t.Fatalf("with six tabs open, the seventh got page loads %v and streams %v, "+
				"want it waiting for a connection", docs, seventh.watch.streamsSnapshot())
		}
		time.Sleep(pollInterval)
	}

	// Closing the second tab frees its connection: the seventh tab loads and connects.
	tabs[1].close()
	seventh.waitConnected(t, 0)
	if docs := seventh.watch.documentsSnapshot(); !hasDocument(docs, "GET", "/", 200) {
		t.Errorf("the seventh tab's page loads %v, want GET / answered 200", docs)
	}
}

// writeSelfSignedCert writes a certificate for 127.0.0.1, signed by its own key, and
// that key, as PEM files in a temp folder, and returns their paths and a pool that
// trusts the certificate.
func writeSelfSignedCert(tb testing.TB) (certFile, keyFile string, roots *x509.CertPool) {
	tb.Helper()

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatalf("generate a key: %v", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		tb.Fatalf("generate a serial number: %v", err)
	}
	now := time.Now()
	template := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "chat e2e test"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		// A little back in time, in case the clocks of test and browser differ.
		NotBefore:   now.Add(-time.Hour),
		NotAfter:    now.Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		tb.Fatalf("create a certificate: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatalf("parse the certificate: %v", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		tb.Fatalf("encode the key: %v", err)
	}

	dir := tb.TempDir()
	certFile = filepath.Join(dir, "cert.pem")
	keyFile = filepath.Join(dir, "key.pem")
	writePEM(tb, certFile, "CERTIFICATE", der)
	writePEM(tb, keyFile, "PRIVATE KEY", keyDER)

	roots = x509.NewCertPool()
	roots.AddCert(cert)
	return certFile, keyFile, roots
}

func writePEM(tb testing.TB, path, blockType string, der []byte) {
	tb.Helper()

	data := pem.EncodeToMemory(&pem.Block{Type: blockType, Bytes: der})
	if err := os.WriteFile(path, data, 0o600); err != nil {
		tb.Fatalf("write %s: %v", path, err)
	}
}
