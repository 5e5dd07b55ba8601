// Command clusterctl is the small helper behind test/cluster/up and down:
// it makes the certificates, waits for readiness, registers the Argo CRDs
// and compacts etcd. Everything else is done by the real servers.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

func die(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "clusterctl: "+format+"\n", a...)
	os.Exit(1)
}

func main() {
	if len(os.Args) < 2 {
		die("usage: clusterctl certs DIR | freeport | wait-ready KUBECONFIG_DIR URL TIMEOUT | crds DIR URL | compact ETCD_URL | revision ETCD_URL")
	}
	switch os.Args[1] {
	case "certs":
		certs(os.Args[2])
	case "freeport":
		freeport()
	case "wait-ready":
		d, err := time.ParseDuration(os.Args[4])
		if err != nil {
			die("bad timeout: %v", err)
		}
		waitReady(os.Args[2], os.Args[3], d)
	case "crds":
		crds(os.Args[2], os.Args[3])
	case "compact":
		compact(os.Args[2])
	case "revision":
		fmt.Println(revision(os.Args[2]))
	default:
		die("unknown command %q", os.Args[1])
	}
}

func freeport() {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		die("listen: %v", err)
	}
	defer l.Close()
	fmt.Println(l.Addr().(*net.TCPAddr).Port)
}

func writePEM(path, typ string, der []byte, mode os.FileMode) {
	var b bytes.Buffer
	if err := pem.Encode(&b, &pem.Block{Type: typ, Bytes: der}); err != nil {
		die("pem: %v", err)
	}
	if err := os.WriteFile(path, b.Bytes(), mode); err != nil {
		die("write %s: %v", path, err)
	}
}

func newKey() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		die("rsa: %v", err)
	}
	return k
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		die("serial: %v", err)
	}
	return n
}

func sign(tmpl, parent *x509.Certificate, pub *rsa.PublicKey, signer *rsa.PrivateKey) []byte {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		die("sign: %v", err)
	}
	return der
}

// certs makes, once, a serving CA and a client CA, the serving certificate
// for 127.0.0.1/localhost, an admin client certificate (system:masters) and
// the service-account signing key pair. Existing files are kept, so an API
// server restart keeps the same CA.
func certs(dir string) {
	if _, err := os.Stat(filepath.Join(dir, "ca.crt")); err == nil {
		return
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		die("mkdir: %v", err)
	}
	now := time.Now().Add(-time.Hour)
	until := now.Add(10 * 365 * 24 * time.Hour)
	mkCA := func(cn string) (*x509.Certificate, *rsa.PrivateKey) {
		k := newKey()
		t := &x509.Certificate{SerialNumber: serial(), Subject: pkix.Name{CommonName: cn},
			NotBefore: now, NotAfter: until, IsCA: true, BasicConstraintsValid: true,
			KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
		der := sign(t, t, &k.PublicKey, k)
		c, _ := x509.ParseCertificate(der)
		return c, k
	}
	ca, caKey := mkCA("workflow-watcher-test-ca")
	writePEM(filepath.Join(dir, "ca.crt"), "CERTIFICATE", ca.Raw, 0o644)
	writePEM(filepath.Join(dir, "ca.key"), "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(caKey), 0o600)
	cca, ccaKey := mkCA("workflow-watcher-test-client-ca")
	writePEM(filepath.Join(dir, "client-ca.crt"), "CERTIFICATE", cca.Raw, 0o644)
	writePEM(filepath.Join(dir, "client-ca.key"), "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(ccaKey), 0o600)

	sk := newKey()
	st := &x509.Certificate{SerialNumber: serial(), Subject: pkix.Name{CommonName: "kube-apiserver"},
		NotBefore: now, NotAfter: until, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1"), net.ParseIP("10.0.0.1")}}
	writePEM(filepath.Join(dir, "apiserver.crt"), "CERTIFICATE", sign(st, ca, &sk.PublicKey, caKey), 0o644)
	writePEM(filepath.Join(dir, "apiserver.key"), "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(sk), 0o600)

	clientCert(dir, "admin", []string{"system:masters"}, cca, ccaKey, now, until)
	// A user with no RBAC grants at all, for permission tests.
	clientCert(dir, "nobody", nil, cca, ccaKey, now, until)

	sa := newKey()
	writePEM(filepath.Join(dir, "sa.key"), "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(sa), 0o600)
	pub, err := x509.MarshalPKIXPublicKey(&sa.PublicKey)
	if err != nil {
		die("sa pub: %v", err)
	}
	writePEM(filepath.Join(dir, "sa.pub"), "PUBLIC KEY", pub, 0o644)
}

func clientCert(dir, cn string, orgs []string, ca *x509.Certificate, caKey *rsa.PrivateKey, from, until time.Time) {
	k := newKey()
	t := &x509.Certificate{SerialNumber: serial(), Subject: pkix.Name{CommonName: cn, Organization: orgs},
		NotBefore: from, NotAfter: until, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	writePEM(filepath.Join(dir, cn+".crt"), "CERTIFICATE", sign(t, ca, &k.PublicKey, caKey), 0o644)
	writePEM(filepath.Join(dir, cn+".key"), "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(k), 0o600)
}

func adminClient(pki string) *http.Client {
	pair, err := tls.LoadX509KeyPair(filepath.Join(pki, "admin.crt"), filepath.Join(pki, "admin.key"))
	if err != nil {
		die("admin cert: %v", err)
	}
	caPEM, err := os.ReadFile(filepath.Join(pki, "ca.crt"))
	if err != nil {
		die("ca: %v", err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: pool}}}
}

// waitReady polls /readyz and then the default namespace.
func waitReady(pki, url string, timeout time.Duration) {
	c := adminClient(pki)
	deadline := time.Now().Add(timeout)
	last := ""
	for _, path := range []string{"/readyz", "/api/v1/namespaces/default"} {
		for {
			resp, err := c.Get(url + path)
			if err == nil {
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 200 {
					break
				}
				last = fmt.Sprintf("%s: HTTP %d %s", path, resp.StatusCode, bytes.TrimSpace(body))
			} else {
				last = err.Error()
			}
			if time.Now().After(deadline) {
				die("API server not ready after %s: %s", timeout, last)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

type crd struct{ kind, plural, short, scope string }

var argoCRDs = []crd{
	{"Workflow", "workflows", "wf", "Namespaced"},
	{"CronWorkflow", "cronworkflows", "cwf", "Namespaced"},
	{"WorkflowTemplate", "workflowtemplates", "wftmpl", "Namespaced"},
	{"ClusterWorkflowTemplate", "clusterworkflowtemplates", "cwftmpl", "Cluster"},
}

// crds registers Argo's CRDs in their "minimal" form and waits until each
// is Established.
func crds(pki, url string) {
	c := adminClient(pki)
	obj := map[string]any{"type": "object", "x-kubernetes-preserve-unknown-fields": true}
	for _, d := range argoCRDs {
		name := d.plural + ".argoproj.io"
		body := map[string]any{
			"apiVersion": "apiextensions.k8s.io/v1",
			"kind":       "CustomResourceDefinition",
			"metadata":   map[string]any{"name": name},
			"spec": map[string]any{
				"group": "argoproj.io",
				"names": map[string]any{"kind": d.kind, "listKind": d.kind + "List", "plural": d.plural,
					"singular": lower(d.kind), "shortNames": []string{d.short}},
				"scope": d.scope,
				"versions": []any{map[string]any{
					"name": "v1alpha1", "served": true, "storage": true,
					"schema": map[string]any{"openAPIV3Schema": map[string]any{
						"type": "object",
						"properties": map[string]any{
							"apiVersion": map[string]any{"type": "string"},
							"kind":       map[string]any{"type": "string"},
							"metadata":   map[string]any{"type": "object"},
							"spec":       obj,
							"status":     obj,
						},
						"required": []string{"metadata", "spec"},
					}},
				}},
			},
		}
		b, _ := json.Marshal(body)
		resp, err := c.Post(url+"/apis/apiextensions.k8s.io/v1/customresourcedefinitions", "application/json", bytes.NewReader(b))
		if err != nil {
			die("create CRD %s: %v", name, err)
		}
		rb, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 201 && resp.StatusCode != 409 {
			die("create CRD %s: HTTP %d %s", name, resp.StatusCode, rb)
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	for _, d := range argoCRDs {
		name := d.plural + ".argoproj.io"
		for {
			if established(c, url, name) {
				// The resource is served once discovery has it.
				resp, err := c.Get(url + "/apis/argoproj.io/v1alpha1/" + d.plural + "?limit=1")
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode == 200 {
						break
					}
				}
			}
			if time.Now().After(deadline) {
				die("CRD %s not established after 60s", name)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

func lower(s string) string { return string(bytes.ToLower([]byte(s))) }

func established(c *http.Client, url, name string) bool {
	resp, err := c.Get(url + "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/" + name)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var v struct {
		Status struct {
			Conditions []struct{ Type, Status string } `json:"conditions"`
		} `json:"status"`
	}
	if json.NewDecoder(resp.Body).Decode(&v) != nil {
		return false
	}
	for _, c := range v.Status.Conditions {
		if c.Type == "Established" && c.Status == "True" {
			return true
		}
	}
	return false
}

func etcdClient(endpoint string) *clientv3.Client {
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 5 * time.Second})
	if err != nil {
		die("etcd: %v", err)
	}
	return cli
}

func revision(endpoint string) int64 {
	cli := etcdClient(endpoint)
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, "/workflow-watcher-probe")
	if err != nil {
		die("etcd get: %v", err)
	}
	return resp.Header.Revision
}

// compact compacts etcd to its current revision, physically, so that no
// history before it can be served.
func compact(endpoint string) {
	rev := revision(endpoint)
	cli := etcdClient(endpoint)
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := cli.Compact(ctx, rev, clientv3.WithCompactPhysical()); err != nil {
		die("compact %d: %v", rev, err)
	}
	fmt.Println(rev)
}
