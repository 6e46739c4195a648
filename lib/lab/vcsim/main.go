// Command vcsim is rehost's vCenter simulator for tests: govmomi's simulator package, listening on
// 127.0.0.1 over HTTPS with a certificate authority of its own, populated from an estate file, plus
// what the simulator lacks for a changed-block-tracking round:
//
//   - QueryChangedDiskAreas: a snapshot taken on a VM with changeTrackingEnabled records a digest
//     per 64 KiB block of every disk's flat file and gives each disk of the snapshot a new changeId;
//     the changed areas between two changeIds are the blocks whose digests differ.
//   - Guest shutdown behaviours per VM ("ok", "ignore", "no-tools") to exercise the power-off fallback.
//   - Paged property retrieval (-page-size N): RetrievePropertiesEx answers N objects and a token,
//     ContinueRetrievePropertiesEx the next N, as vCenter pages a large estate.
//   - vSphere tags per VM ("Category:name"), created and attached through the vAPI REST endpoint
//     (/rest/com/vmware/cis/...) that govmomi's vapi simulator serves next to /sdk.
//   - Snapshots that freeze the base disk as ESXi does: while a VM has a snapshot, what its guest
//     writes goes to a delta layer, the disk's flat file (what the datastore's HTTP interface
//     serves) stays as it was at the snapshot, and removing the snapshot consolidates the delta
//     into it. One delta layer: a second snapshot consolidates the first's delta before freezing.
//   - A guest's disk I/O: POST /rehost/guest?vm=NAME&disk=KEY&offset=N writes the body through
//     the delta, GET with &length=N reads what the guest sees.
//   - POST /rehost/cbt-reset?vm=NAME forgets every changeId of the VM's disks, as a CBT reset
//     after a storage migration or a host crash does.
//   - Datastore reads need a session cookie or basic authentication, as vCenter's do; a VM marked "unreadable" in the
//     estate gets 403 for its files, as on a datastore the reader may not browse.
//   - A VM marked "changeTrackingSupported": false reports so, and refuses to enable CBT.
//
// It prints one JSON line on stdout when ready ({"url", "ca", "thumbprint", "datastores"}) and stops
// on SIGTERM or SIGINT, removing its datastore directories.
//
// `vcsim retrieve -url URL -ca FILE -user USER -runs N` is the peer of bench/vsphere.bench.ts:
// govmomi reading the same properties through a container view, decoded into its Go types.
package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"encoding/xml"
	"flag"
	"fmt"
	"io"
	"io/ioutil"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/signal"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/session"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vapi/rest"
	_ "github.com/vmware/govmomi/vapi/simulator"
	"github.com/vmware/govmomi/vapi/tags"
	"github.com/vmware/govmomi/view"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// cbtBlock is the granularity of the simulated changed-block tracking.
const cbtBlock = 64 * 1024

type estateDisk struct {
	CapacityMiB int64  `json:"capacityMiB"`
	Mode        string `json:"mode"` // persistent (default), independent_persistent, independent_nonpersistent
	Rdm         string `json:"rdm"`  // "", "physical", "virtual"
}

type estateNic struct {
	Portgroup string   `json:"portgroup"`
	Adapter   string   `json:"adapter"` // vmxnet3 (default), e1000, e1000e
	Ips       []string `json:"ips"`
}

type estateVM struct {
	Name          string       `json:"name"`
	Folder        string       `json:"folder"`
	Cpus          int32        `json:"cpus"`
	MemoryMiB     int64        `json:"memoryMiB"`
	GuestID       string       `json:"guestId"`
	Firmware      string       `json:"firmware"`
	PowerState    string       `json:"powerState"` // poweredOn (default), poweredOff
	Controller    string       `json:"controller"` // pvscsi (default), lsilogic, lsilogic-sas
	Disks         []estateDisk `json:"disks"`
	Nics          []estateNic  `json:"nics"`
	GuestShutdown string       `json:"guestShutdown"` // ok (default), ignore, no-tools
	Tags          []string     `json:"tags"`          // "Category:name"
	Unreadable    bool         `json:"unreadable"`    // its datastore files answer 403
	NoCBT         bool         `json:"noCbt"`         // changeTrackingSupported false
}

type estatePortgroup struct {
	Name string `json:"name"`
	Vlan int32  `json:"vlan"`
}

type estate struct {
	Portgroups []estatePortgroup `json:"portgroups"`
	Vms        []estateVM        `json:"vms"`
}

// blockMap is the digest of every cbtBlock of a flat file at one point in time.
type blockMap struct {
	size   int64
	digest [][32]byte
}

type harness struct {
	mu       sync.Mutex
	inner    http.Handler
	maps     map[string]*blockMap // changeId -> blocks at the snapshot that carried it
	sequence int
	shutdown map[string]string // VM moref -> guest shutdown behaviour
	window   int64
	pageSize int                 // objects per RetrievePropertiesEx answer; 0: no paging
	pages    map[string][]string // continuation token -> the <objects> elements still to send
	pageSeq  int
	// deltas holds, per flat file of a VM with a snapshot, the blocks its guest wrote since.
	deltas     map[string]map[int64][]byte
	unreadable map[string]bool // VM name -> its files answer 403
	noCBT      map[string]bool // VM moref -> changeTrackingSupported false
	keepFrozen string          // where frozen disks are copied at each snapshot of a point; "": not at all
	// cache holds each flat file's block digests, kept current as the guest writes and deltas are
	// consolidated, so a snapshot costs what changed rather than a read of the whole disk.
	cacheMu sync.Mutex
	cache   map[string]*blockMap
	// copying counts the frozen copies in progress; a snapshot's removal waits for them.
	copying sync.WaitGroup
	user       string
	password   string
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "retrieve" {
		retrieveBench(os.Args[2:])
		return
	}
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on (loopback only)")
	dir := flag.String("dir", "", "directory for the CA certificate (required)")
	estateFile := flag.String("estate", "", "estate JSON file; empty: no VMs")
	user := flag.String("user", "administrator@vsphere.local", "the one user allowed to log in")
	window := flag.Int64("cbt-window", 4*1024*1024, "bytes of disk covered by one QueryChangedDiskAreas answer")
	pageSize := flag.Int("page-size", 0, "objects per RetrievePropertiesEx answer, the rest behind continuation tokens; 0: all at once")
	vapi := flag.Bool("vapi", true, "serve the vAPI REST endpoint (tags); false: answer 404 there, as an ESXi host does")
	keepFrozen := flag.String("keep-frozen", "", "directory where the frozen disks of each snapshot taken for a consistent point are copied (<vm>/<snapshot>/<disk>-flat.vmdk), for checks of what a round read")
	flag.Parse()
	password := os.Getenv("VCSIM_PASSWORD")
	if *dir == "" || password == "" {
		log.Fatal("usage: vcsim -dir DIR [-estate FILE] [-listen 127.0.0.1:0] (password in VCSIM_PASSWORD)")
	}
	host, _, err := net.SplitHostPort(*listen)
	_, lab, _ := net.ParseCIDR("198.18.0.0/15")
	if ip := net.ParseIP(host); err != nil || ip == nil || !(ip.IsLoopback() || lab.Contains(ip)) {
		log.Fatalf("-listen must be a loopback address or one of the lab's links (198.18.0.0/15), got %q", *listen)
	}

	var spec estate
	if *estateFile != "" {
		data, err := ioutil.ReadFile(*estateFile)
		if err != nil {
			log.Fatal(err)
		}
		if err := json.Unmarshal(data, &spec); err != nil {
			log.Fatalf("%s: %v", *estateFile, err)
		}
	}

	caFile := filepath.Join(*dir, "ca.pem")
	leaf, err := makeCertificates(caFile, net.ParseIP(host))
	if err != nil {
		log.Fatal(err)
	}

	model := simulator.VPX()
	model.Machine = 0
	model.Portgroup = 1
	if err := model.Create(); err != nil {
		log.Fatal(err)
	}
	fail := func(err error) {
		model.Remove()
		log.Fatal(err)
	}
	model.Service.Listen = &url.URL{Host: *listen, User: url.UserPassword(*user, password)}
	model.Service.TLS = &tls.Config{Certificates: []tls.Certificate{leaf}}
	model.Service.RegisterEndpoints = *vapi // the vAPI REST endpoint, for tags
	server := model.Service.NewServer()

	h := &harness{keepFrozen: *keepFrozen, cache: map[string]*blockMap{}, inner: server.Server.Config.Handler, maps: map[string]*blockMap{}, shutdown: map[string]string{}, window: *window, pageSize: *pageSize, pages: map[string][]string{},
		deltas: map[string]map[int64][]byte{}, unreadable: map[string]bool{}, noCBT: map[string]bool{}, user: *user, password: password}
	server.Server.Config.Handler = h

	ctx := context.Background()
	client, err := govmomi.NewClient(ctx, server.URL, true)
	if err != nil {
		fail(err)
	}
	if err := populate(ctx, client, spec, h); err != nil {
		fail(err)
	}
	if *vapi {
		if err := attachTags(ctx, client, server.URL.User, spec); err != nil {
			fail(err)
		}
	}
	_ = client.Logout(ctx)

	datastores := map[string]string{}
	for _, ref := range simulator.Map.All("Datastore") {
		ds := ref.(*simulator.Datastore)
		datastores[ds.Name] = ds.Info.GetDatastoreInfo().Url
	}
	sum1 := sha1.Sum(leaf.Certificate[0])
	sum256 := sha256.Sum256(leaf.Certificate[0])
	u := *server.URL
	u.User = nil
	ready, _ := json.Marshal(map[string]interface{}{
		"url":              u.String(),
		"ca":               caFile,
		"thumbprint":       colonHex(sum1[:]),
		"thumbprintSha256": colonHex(sum256[:]),
		"datastores":       datastores,
	})
	fmt.Println(string(ready))

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	<-stop
	server.Close()
	model.Remove()
}

func colonHex(b []byte) string {
	parts := make([]string, len(b))
	for i, c := range b {
		parts[i] = fmt.Sprintf("%02X", c)
	}
	return strings.Join(parts, ":")
}

// makeCertificates writes a fresh CA certificate to caFile and returns a server certificate for
// 127.0.0.1 and localhost signed by it.
func makeCertificates(caFile string, host net.IP) (tls.Certificate, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	now := time.Now()
	caTemplate := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "rehost test vCenter CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTemplate, caTemplate, &caKey.PublicKey, caKey)
	if err != nil {
		return tls.Certificate{}, err
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	template := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1"), host},
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, template, caCert, &key.PublicKey, caKey)
	if err != nil {
		return tls.Certificate{}, err
	}
	if err := ioutil.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o644); err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// populate creates the estate's portgroups, folders and VMs through the simulator's own API.
func populate(ctx context.Context, c *govmomi.Client, spec estate, h *harness) error {
	finder := find.NewFinder(c.Client, false)
	dc, err := finder.DefaultDatacenter(ctx)
	if err != nil {
		return err
	}
	finder.SetDatacenter(dc)
	folders, err := dc.Folders(ctx)
	if err != nil {
		return err
	}
	dvsEntity := simulator.Map.Any("DistributedVirtualSwitch")
	if dvsEntity == nil {
		return fmt.Errorf("the model has no distributed switch")
	}
	dvs := object.NewDistributedVirtualSwitch(c.Client, dvsEntity.Reference())
	for _, pg := range spec.Portgroups {
		task, err := dvs.AddPortgroup(ctx, []types.DVPortgroupConfigSpec{{
			Name: pg.Name,
			Type: string(types.DistributedVirtualPortgroupPortgroupTypeEarlyBinding),
			DefaultPortConfig: &types.VMwareDVSPortSetting{
				Vlan: &types.VmwareDistributedVirtualSwitchVlanIdSpec{VlanId: pg.Vlan},
			},
		}})
		if err != nil {
			return err
		}
		if err := task.Wait(ctx); err != nil {
			return fmt.Errorf("portgroup %s: %w", pg.Name, err)
		}
	}
	pool, err := finder.ResourcePool(ctx, "DC0_C0/Resources")
	if err != nil {
		return err
	}
	ds, err := finder.Datastore(ctx, "LocalDS_0")
	if err != nil {
		return err
	}
	folderCache := map[string]*object.Folder{"": folders.VmFolder}
	for _, vmSpec := range spec.Vms {
		folder, err := vmFolder(ctx, folderCache, vmSpec.Folder)
		if err != nil {
			return err
		}
		if err := createVM(ctx, c, finder, folder, pool, ds, vmSpec, h); err != nil {
			return fmt.Errorf("VM %s: %w", vmSpec.Name, err)
		}
	}
	return nil
}

// attachTags creates the estate's tag categories and tags and attaches them to the VMs, through
// the vAPI REST endpoint as a user of vCenter would.
func attachTags(ctx context.Context, c *govmomi.Client, user *url.Userinfo, spec estate) error {
	rc := rest.NewClient(c.Client)
	if err := rc.Login(ctx, user); err != nil {
		return fmt.Errorf("vAPI login: %w", err)
	}
	defer rc.Logout(ctx)
	m := tags.NewManager(rc)
	categories := map[string]string{}
	tagIDs := map[string]string{}
	finder := find.NewFinder(c.Client, true)
	dc, err := finder.DefaultDatacenter(ctx)
	if err != nil {
		return err
	}
	finder.SetDatacenter(dc)
	for _, vmSpec := range spec.Vms {
		for _, full := range vmSpec.Tags {
			parts := strings.SplitN(full, ":", 2)
			if len(parts) != 2 {
				return fmt.Errorf("VM %s: tag %q is not Category:name", vmSpec.Name, full)
			}
			if _, ok := categories[parts[0]]; !ok {
				id, err := m.CreateCategory(ctx, &tags.Category{Name: parts[0], Cardinality: "MULTIPLE", AssociableTypes: []string{"VirtualMachine"}})
				if err != nil {
					return fmt.Errorf("category %s: %w", parts[0], err)
				}
				categories[parts[0]] = id
			}
			if _, ok := tagIDs[full]; !ok {
				id, err := m.CreateTag(ctx, &tags.Tag{Name: parts[1], CategoryID: categories[parts[0]]})
				if err != nil {
					return fmt.Errorf("tag %s: %w", full, err)
				}
				tagIDs[full] = id
			}
			vm, err := finder.VirtualMachine(ctx, vmSpec.Name)
			if err != nil {
				return err
			}
			if err := m.AttachTag(ctx, tagIDs[full], vm.Reference()); err != nil {
				return fmt.Errorf("VM %s, tag %s: %w", vmSpec.Name, full, err)
			}
		}
	}
	return nil
}

func vmFolder(ctx context.Context, cache map[string]*object.Folder, p string) (*object.Folder, error) {
	folder := cache[""]
	sofar := ""
	for _, part := range strings.Split(strings.Trim(p, "/"), "/") {
		if part == "" {
			continue
		}
		sofar = path.Join(sofar, part)
		if f, ok := cache[sofar]; ok {
			folder = f
			continue
		}
		f, err := folder.CreateFolder(ctx, part)
		if err != nil {
			return nil, err
		}
		cache[sofar] = f
		folder = f
	}
	return folder, nil
}

func createVM(ctx context.Context, c *govmomi.Client, finder *find.Finder, folder *object.Folder, pool *object.ResourcePool, ds *object.Datastore, s estateVM, h *harness) error {
	cpus, mem, guest := s.Cpus, s.MemoryMiB, s.GuestID
	if cpus == 0 {
		cpus = 1
	}
	if mem == 0 {
		mem = 1024
	}
	if guest == "" {
		guest = string(types.VirtualMachineGuestOsIdentifierOtherGuest)
	}
	config := types.VirtualMachineConfigSpec{
		Name:     s.Name,
		GuestId:  guest,
		NumCPUs:  cpus,
		MemoryMB: mem,
		Firmware: s.Firmware,
		Files:    &types.VirtualMachineFileInfo{VmPathName: "[LocalDS_0]"},
	}
	var devices object.VirtualDeviceList
	controllerType := s.Controller
	if controllerType == "" {
		controllerType = "pvscsi"
	}
	scsi, err := devices.CreateSCSIController(controllerType)
	if err != nil {
		return err
	}
	devices = append(devices, scsi)
	for i, d := range s.Disks {
		name := fmt.Sprintf("[LocalDS_0] %s/%s", s.Name, s.Name)
		if i > 0 {
			name = fmt.Sprintf("%s_%d", name, i)
		}
		disk := devices.CreateDisk(scsi.(types.BaseVirtualController), ds.Reference(), name+".vmdk")
		disk.Key = int32(2000 + i)
		disk.DeviceInfo = &types.Description{Label: fmt.Sprintf("Hard disk %d", i+1), Summary: fmt.Sprintf("%d MB", d.CapacityMiB)}
		disk.CapacityInKB = d.CapacityMiB * 1024
		disk.CapacityInBytes = d.CapacityMiB * 1024 * 1024
		flat := disk.Backing.(*types.VirtualDiskFlatVer2BackingInfo)
		if d.Mode != "" {
			flat.DiskMode = d.Mode
		}
		devices = append(devices, disk)
	}
	for i, n := range s.Nics {
		network, err := finder.Network(ctx, n.Portgroup)
		if err != nil {
			return err
		}
		backing, err := network.EthernetCardBackingInfo(ctx)
		if err != nil {
			return err
		}
		adapter := n.Adapter
		if adapter == "" {
			adapter = "vmxnet3"
		}
		card, err := devices.CreateEthernetCard(adapter, backing)
		if err != nil {
			return err
		}
		card.GetVirtualDevice().Key = int32(4000 + i)
		card.GetVirtualDevice().DeviceInfo = &types.Description{Label: fmt.Sprintf("Network adapter %d", i+1), Summary: n.Portgroup}
		devices = append(devices, card)
	}
	config.DeviceChange, err = devices.ConfigSpec(types.VirtualDeviceConfigSpecOperationAdd)
	if err != nil {
		return err
	}
	task, err := folder.CreateVM(ctx, config, pool, nil)
	if err != nil {
		return err
	}
	info, err := task.WaitForResult(ctx, nil)
	if err != nil {
		return err
	}
	ref := info.Result.(types.ManagedObjectReference)
	vm := object.NewVirtualMachine(c.Client, ref)
	h.shutdown[ref.Value] = s.GuestShutdown
	h.unreadable[s.Name] = s.Unreadable
	if s.NoCBT {
		h.noCBT[ref.Value] = true
		simVM := simulator.Map.Get(ref).(*simulator.VirtualMachine)
		simulator.Map.WithLock(simVM, func() { simVM.Capability.ChangeTrackingSupported = types.NewBool(false) })
	}

	// Flat files have the disk's full size, as on a real datastore.
	simVM := simulator.Map.Get(ref).(*simulator.VirtualMachine)
	for _, dev := range simVM.Config.Hardware.Device {
		if disk, ok := dev.(*types.VirtualDisk); ok {
			if err := os.Truncate(flatPath(disk), disk.CapacityInKB*1024); err != nil {
				return err
			}
		}
	}

	// The first NIC's address the documented way; further NICs are set in the simulator's model.
	if len(s.Nics) > 0 && len(s.Nics[0].Ips) > 0 {
		task, err := vm.Reconfigure(ctx, types.VirtualMachineConfigSpec{ExtraConfig: []types.BaseOptionValue{
			&types.OptionValue{Key: "SET.guest.ipAddress", Value: s.Nics[0].Ips[0]},
		}})
		if err != nil {
			return err
		}
		if err := task.Wait(ctx); err != nil {
			return err
		}
	}
	simulator.Map.WithLock(simVM, func() {
		for i, n := range s.Nics {
			if i < len(simVM.Guest.Net) {
				simVM.Guest.Net[i].IpAddress = append([]string(nil), n.Ips...)
			}
		}
	})

	// The simulator cannot create or reconfigure a VM with raw device mappings: they are set in its
	// model once the VM is complete.
	simulator.Map.WithLock(simVM, func() {
		index := 0
		for _, dev := range simVM.Config.Hardware.Device {
			disk, ok := dev.(*types.VirtualDisk)
			if !ok {
				continue
			}
			if d := s.Disks[index]; d.Rdm != "" {
				flat := disk.Backing.(*types.VirtualDiskFlatVer2BackingInfo)
				mode := "physicalMode"
				if d.Rdm == "virtual" {
					mode = "virtualMode"
				}
				disk.Backing = &types.VirtualDiskRawDiskMappingVer1BackingInfo{
					VirtualDeviceFileBackingInfo: flat.VirtualDeviceFileBackingInfo,
					CompatibilityMode:            mode,
					DiskMode:                     flat.DiskMode,
					DeviceName:                   fmt.Sprintf("vml.0200000000600508b1001c%04d", index),
					LunUuid:                      fmt.Sprintf("0200000000600508b1001c%04d", index),
				}
			}
			index++
		}
	})

	if s.PowerState == "poweredOff" {
		return nil
	}
	task, err = vm.PowerOn(ctx)
	if err != nil {
		return err
	}
	return task.Wait(ctx)
}

// flatPath is the local path of a disk's flat extent (`name.vmdk` -> `name-flat.vmdk`).
func flatPath(disk *types.VirtualDisk) string {
	info := disk.Backing.(types.BaseVirtualDeviceFileBackingInfo).GetVirtualDeviceFileBackingInfo()
	var p object.DatastorePath
	p.FromString(info.FileName)
	for _, ref := range simulator.Map.All("Datastore") {
		ds := ref.(*simulator.Datastore)
		if ds.Name == p.Datastore {
			return filepath.Join(ds.Info.GetDatastoreInfo().Url, strings.Replace(p.Path, ".vmdk", "-flat.vmdk", 1))
		}
	}
	return ""
}

func diskChangeID(disk *types.VirtualDisk) *string {
	switch b := disk.Backing.(type) {
	case *types.VirtualDiskFlatVer2BackingInfo:
		return &b.ChangeId
	case *types.VirtualDiskRawDiskMappingVer1BackingInfo:
		return &b.ChangeId
	}
	return nil
}

// blockMapOf returns a copy of the flat file's block digests (read once, then kept current).
func (h *harness) blockMapOf(file string) (*blockMap, error) {
	h.cacheMu.Lock()
	defer h.cacheMu.Unlock()
	m := h.cache[file]
	if m == nil {
		read, err := readBlockMap(file)
		if err != nil {
			return nil, err
		}
		h.cache[file], m = read, read
	}
	return &blockMap{size: m.size, digest: append([][32]byte(nil), m.digest...)}, nil
}

// refreshBlocks digests again the blocks of `file` from `first` to `last` (after a write to them).
func (h *harness) refreshBlocks(f *os.File, file string, first, last int64) {
	h.cacheMu.Lock()
	defer h.cacheMu.Unlock()
	m := h.cache[file]
	if m == nil {
		return
	}
	if last >= int64(len(m.digest)) {
		// The file grew: read again at the next snapshot.
		delete(h.cache, file)
		return
	}
	buf := make([]byte, cbtBlock)
	for b := first; b <= last && b < int64(len(m.digest)); b++ {
		n, _ := f.ReadAt(buf, b*cbtBlock)
		m.digest[b] = sha256.Sum256(buf[:n])
	}
}

// forgetBlockMaps drops the cache (a file was replaced through the datastore interface).
func (h *harness) forgetBlockMaps() {
	h.cacheMu.Lock()
	defer h.cacheMu.Unlock()
	h.cache = map[string]*blockMap{}
}

func readBlockMap(file string) (*blockMap, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	m := &blockMap{}
	buf := make([]byte, cbtBlock)
	for {
		n, err := io.ReadFull(f, buf)
		if n > 0 {
			m.digest = append(m.digest, sha256.Sum256(buf[:n]))
			m.size += int64(n)
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return m, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

var zeroBlock = sha256.Sum256(make([]byte, cbtBlock))

// ServeHTTP adds QueryChangedDiskAreas, changeIds on snapshots and guest shutdown behaviours
// in front of the simulator's own handler.
func (h *harness) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/folder/") && r.Method == http.MethodPut {
		defer h.forgetBlockMaps()
	}
	switch {
	case strings.HasPrefix(r.URL.Path, "/rehost/guest"):
		h.guestIO(w, r)
		return
	case r.URL.Path == "/rehost/cbt-reset" && r.Method == http.MethodPost:
		h.cbtReset(w, r)
		return
	case strings.HasPrefix(r.URL.Path, "/folder/") && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		// vCenter takes a session cookie or HTTP basic authentication there.
		if u, p, ok := r.BasicAuth(); !(ok && u == h.user && p == h.password) && !h.authenticated(r) {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		vm := strings.SplitN(strings.TrimPrefix(r.URL.Path, "/folder/"), "/", 2)[0]
		if h.unreadable[vm] {
			w.WriteHeader(http.StatusForbidden)
			return
		}
	}
	if r.Method != http.MethodPost || !strings.HasPrefix(r.URL.Path, "/sdk") {
		h.inner.ServeHTTP(w, r)
		return
	}
	body, err := ioutil.ReadAll(r.Body)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	r.Body = ioutil.NopCloser(bytes.NewReader(body))
	method, fields := parseCall(body)
	switch method {
	case "QueryChangedDiskAreas":
		if !h.authenticated(r) {
			writeFault(w, "The session is not authenticated.", "NotAuthenticated", "")
			return
		}
		h.queryChangedDiskAreas(w, fields)
	case "RetrievePropertiesEx":
		if h.pageSize == 0 || !h.authenticated(r) {
			h.inner.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		h.inner.ServeHTTP(rec, r)
		out := rec.Body.String()
		start, end := strings.Index(out, "<returnval>"), strings.LastIndex(out, "</returnval>")
		if rec.Code != http.StatusOK || start < 0 || end < start {
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.Code)
			_, _ = io.WriteString(w, out)
			return
		}
		h.page(w, "RetrievePropertiesExResponse", splitObjects(out[start+len("<returnval>"):end]))
	case "ContinueRetrievePropertiesEx":
		h.mu.Lock()
		rest, ok := h.pages[fields["token"]]
		delete(h.pages, fields["token"])
		h.mu.Unlock()
		if !ok || !h.authenticated(r) {
			writeFault(w, "Unknown continuation token.", "InvalidArgument", "token")
			return
		}
		h.page(w, "ContinueRetrievePropertiesExResponse", rest)
	case "CreateSnapshot_Task":
		h.createSnapshot(w, r, fields)
	case "RemoveSnapshot_Task":
		h.removeSnapshot(w, r, fields)
	case "ReconfigVM_Task":
		if h.noCBT[fields["_this"]] && strings.Contains(string(body), "<changeTrackingEnabled>true</changeTrackingEnabled>") && h.authenticated(r) {
			writeFault(w, "Changed block tracking is not supported by this virtual machine's hardware version.", "NotSupported", "")
			return
		}
		h.inner.ServeHTTP(w, r)
	case "ShutdownGuest":
		behaviour := h.shutdown[fields["_this"]]
		if h.authenticated(r) && behaviour == "ignore" {
			writeResponse(w, "<ShutdownGuestResponse xmlns=\"urn:vim25\"></ShutdownGuestResponse>")
			return
		}
		if h.authenticated(r) && behaviour == "no-tools" {
			writeFault(w, "VMware Tools is not running in the guest.", "ToolsUnavailable", "")
			return
		}
		h.inner.ServeHTTP(w, r)
	default:
		h.inner.ServeHTTP(w, r)
	}
}

// page answers the first pageSize objects, and a token for the rest when there are more.
func (h *harness) page(w http.ResponseWriter, response string, objects []string) {
	n := len(objects)
	if n > h.pageSize {
		n = h.pageSize
	}
	token := ""
	if n < len(objects) {
		h.mu.Lock()
		h.pageSeq++
		token = fmt.Sprintf("<token>page-%d</token>", h.pageSeq)
		h.pages[fmt.Sprintf("page-%d", h.pageSeq)] = objects[n:]
		h.mu.Unlock()
	}
	writeResponse(w, fmt.Sprintf("<%s xmlns=\"urn:vim25\"><returnval>%s%s</returnval></%s>", response, strings.Join(objects[:n], ""), token, response))
}

// splitObjects cuts the inside of a RetrieveResult into its <objects> elements.
func splitObjects(result string) []string {
	var objects []string
	depth, start := 0, 0
	for i := 0; i < len(result); {
		switch {
		case strings.HasPrefix(result[i:], "<objects>"):
			if depth == 0 {
				start = i
			}
			depth++
			i += len("<objects>")
		case strings.HasPrefix(result[i:], "</objects>"):
			depth--
			i += len("</objects>")
			if depth == 0 {
				objects = append(objects, result[start:i])
			}
		default:
			i++
		}
	}
	return objects
}

// parseCall returns the SOAP method of a request and the text of its direct child elements.
func parseCall(body []byte) (string, map[string]string) {
	dec := xml.NewDecoder(bytes.NewReader(body))
	fields := map[string]string{}
	method := ""
	depth := 0
	field := ""
	for {
		tok, err := dec.Token()
		if err != nil {
			return method, fields
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			if depth == 3 {
				method = t.Name.Local
			} else if depth == 4 {
				field = t.Name.Local
			}
		case xml.CharData:
			if depth == 4 && field != "" {
				fields[field] += string(t)
			}
		case xml.EndElement:
			depth--
		}
	}
}

// authenticated asks the simulator whether the request's session cookie belongs to a session.
func (h *harness) authenticated(r *http.Request) bool {
	probe := `<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>` +
		`<RetrievePropertiesEx xmlns="urn:vim25"><_this type="PropertyCollector">propertyCollector</_this><specSet>` +
		`<propSet><type>SessionManager</type><pathSet>currentSession</pathSet></propSet>` +
		`<objectSet><obj type="SessionManager">SessionManager</obj></objectSet></specSet><options></options></RetrievePropertiesEx></soapenv:Body></soapenv:Envelope>`
	req := httptest.NewRequest(http.MethodPost, "/sdk", strings.NewReader(probe))
	for _, c := range r.Cookies() {
		req.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	h.inner.ServeHTTP(rec, req)
	return rec.Code == http.StatusOK && strings.Contains(rec.Body.String(), "<userName>")
}

func (h *harness) createSnapshot(w http.ResponseWriter, r *http.Request, fields map[string]string) {
	obj := simulator.Map.Get(types.ManagedObjectReference{Type: "VirtualMachine", Value: fields["_this"]})
	vm, ok := obj.(*simulator.VirtualMachine)
	if !ok || !h.authenticated(r) {
		h.inner.ServeHTTP(w, r)
		return
	}
	// The snapshot is atomic for the guest, as on ESXi: its writes wait from the moment the
	// disks' blocks are read for the changeIds until the delta takes them.
	h.mu.Lock()
	locked := true
	unlock := func() {
		if locked {
			locked = false
			h.mu.Unlock()
		}
	}
	defer unlock()
	// The disks' state at snapshot time, before the simulator's task runs.
	maps := map[int32]*blockMap{}
	cbt := false
	var flats []string
	nested := false
	simulator.Map.WithLock(vm, func() {
		cbt = vm.Config.ChangeTrackingEnabled != nil && *vm.Config.ChangeTrackingEnabled
		for _, dev := range vm.Config.Hardware.Device {
			if disk, ok := dev.(*types.VirtualDisk); ok {
				flats = append(flats, flatPath(disk))
				if h.deltas[flatPath(disk)] != nil {
					nested = true
				}
				if cbt && diskChangeID(disk) != nil {
					if m, err := h.blockMapOf(flatPath(disk)); err == nil {
						maps[disk.Key] = m
					}
				}
			}
		}
	})
	if nested {
		// One delta layer only: a second snapshot freezes what the guest wrote since the first.
		for _, f := range flats {
			if delta := h.deltas[f]; delta != nil {
				if err := h.consolidate(f, delta); err != nil {
					log.Printf("consolidating %s: %v", f, err)
				}
			}
		}
		maps = map[int32]*blockMap{}
		simulator.Map.WithLock(vm, func() {
			for _, dev := range vm.Config.Hardware.Device {
				if disk, ok := dev.(*types.VirtualDisk); ok && cbt && diskChangeID(disk) != nil {
					if m, err := h.blockMapOf(flatPath(disk)); err == nil {
						maps[disk.Key] = m
					}
				}
			}
		})
	}
	rec := httptest.NewRecorder()
	h.inner.ServeHTTP(rec, r)
	if rec.Code == http.StatusOK {
		// From now on the flat files are frozen: the guest writes to the delta.
		for _, f := range flats {
			h.deltas[f] = map[int64][]byte{}
		}
	}
	unlock()
	// The flat files stay frozen until the snapshot is removed: they are copied in the background
	// (the snapshot's time is not the copy's), and the removal waits for the copy.
	if rec.Code == http.StatusOK && h.keepFrozen != "" && strings.Contains(fields["description"], " of point ") {
		h.copying.Add(1)
		go func(name string, flats []string) {
			defer h.copying.Done()
			for _, f := range flats {
				if err := copyFrozen(f, filepath.Join(h.keepFrozen, vm.Name, name, filepath.Base(f))); err != nil {
					log.Printf("copying frozen %s: %v", f, err)
				}
			}
		}(fields["name"], flats)
	}
	if cbt && rec.Code == http.StatusOK {
		h.tagSnapshot(vm, maps)
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

// removeSnapshot consolidates: once the simulator removed the snapshot, the delta each disk of
// its VM holds is written into the disk's flat file.
func (h *harness) removeSnapshot(w http.ResponseWriter, r *http.Request, fields map[string]string) {
	snap, ok := simulator.Map.Get(types.ManagedObjectReference{Type: "VirtualMachineSnapshot", Value: fields["_this"]}).(*simulator.VirtualMachineSnapshot)
	var flats []string
	var vm *simulator.VirtualMachine
	if ok {
		if v, ok := simulator.Map.Get(snap.Vm).(*simulator.VirtualMachine); ok {
			vm = v
			simulator.Map.WithLock(vm, func() {
				for _, dev := range vm.Config.Hardware.Device {
					if disk, ok := dev.(*types.VirtualDisk); ok {
						flats = append(flats, flatPath(disk))
					}
				}
			})
		}
	}
	h.copying.Wait()
	rec := httptest.NewRecorder()
	h.inner.ServeHTTP(rec, r)
	remaining := false
	if vm != nil {
		simulator.Map.WithLock(vm, func() { remaining = vm.Snapshot != nil && len(vm.Snapshot.RootSnapshotList) > 0 })
	}
	if rec.Code == http.StatusOK && h.authenticated(r) && !remaining {
		h.mu.Lock()
		for _, f := range flats {
			if delta := h.deltas[f]; delta != nil {
				if err := h.consolidate(f, delta); err != nil {
					log.Printf("consolidating %s: %v", f, err)
				}
				delete(h.deltas, f)
			}
		}
		h.mu.Unlock()
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

// copyFrozen copies a frozen flat file (holes stay holes where the source reads zeroes).
func copyFrozen(from, to string) error {
	if err := os.MkdirAll(filepath.Dir(to), 0o700); err != nil {
		return err
	}
	data, err := ioutil.ReadFile(from)
	if err != nil {
		return err
	}
	return ioutil.WriteFile(to, data, 0o600)
}

// consolidate writes the delta's blocks into the flat file.
func (h *harness) consolidate(flat string, delta map[int64][]byte) error {
	f, err := os.OpenFile(flat, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	for block, data := range delta {
		if _, err := f.WriteAt(data, block*cbtBlock); err != nil {
			return err
		}
		h.refreshBlocks(f, flat, block, block)
	}
	return f.Sync()
}

// guestIO reads or writes a VM's disk as its guest sees it: the flat file, with the delta of a
// snapshot over it.
func (h *harness) guestIO(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var key, offset, length int64
	fmt.Sscan(q.Get("disk"), &key)
	fmt.Sscan(q.Get("offset"), &offset)
	fmt.Sscan(q.Get("length"), &length)
	var flat string
	var capacity int64
	for _, ref := range simulator.Map.All("VirtualMachine") {
		vm := ref.(*simulator.VirtualMachine)
		if vm.Name != q.Get("vm") {
			continue
		}
		simulator.Map.WithLock(vm, func() {
			if disk, ok := object.VirtualDeviceList(vm.Config.Hardware.Device).FindByKey(int32(key)).(*types.VirtualDisk); ok {
				flat, capacity = flatPath(disk), disk.CapacityInKB*1024
			}
		})
	}
	if flat == "" {
		http.Error(w, "no such VM or disk", http.StatusNotFound)
		return
	}
	var data []byte
	if r.Method == http.MethodPost {
		body, err := ioutil.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		data, length = body, int64(len(body))
	}
	if offset < 0 || length < 0 || offset+length > capacity {
		http.Error(w, "outside the disk", http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	f, err := os.OpenFile(flat, os.O_RDWR, 0)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	defer f.Close()
	delta := h.deltas[flat]
	block := func(b int64) []byte {
		if d, ok := delta[b]; ok {
			return d
		}
		buf := make([]byte, cbtBlock)
		n, _ := f.ReadAt(buf, b*cbtBlock)
		return buf[:max64(int64(n), min64(cbtBlock, capacity-b*cbtBlock))]
	}
	if r.Method != http.MethodPost {
		out := make([]byte, 0, length)
		for at := offset; at < offset+length; {
			b := at / cbtBlock
			piece := block(b)
			start := at - b*cbtBlock
			end := min64(int64(len(piece)), offset+length-b*cbtBlock)
			out = append(out, piece[start:end]...)
			at = b*cbtBlock + end
		}
		_, _ = w.Write(out)
		return
	}
	if delta == nil {
		if _, err := f.WriteAt(data, offset); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		if length > 0 {
			h.refreshBlocks(f, flat, offset/cbtBlock, (offset+length-1)/cbtBlock)
		}
		w.WriteHeader(http.StatusNoContent)
		return
	}
	for at := offset; at < offset+length; {
		b := at / cbtBlock
		piece := append([]byte(nil), block(b)...)
		start := at - b*cbtBlock
		n := copy(piece[start:], data[at-offset:])
		delta[b] = piece
		at += int64(n)
	}
	w.WriteHeader(http.StatusNoContent)
}

func min64(a, b int64) int64 {
	if a < b {
		return a
	}
	return b
}

func max64(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}

// cbtReset forgets every changeId of a VM's disks: QueryChangedDiskAreas with one of them fails.
func (h *harness) cbtReset(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("vm")
	for _, ref := range simulator.Map.All("VirtualMachine") {
		vm := ref.(*simulator.VirtualMachine)
		if vm.Name != name {
			continue
		}
		prefix := "52 " + strings.ReplaceAll(vm.Config.Uuid, "-", "") + "/"
		h.mu.Lock()
		for id := range h.maps {
			if strings.HasPrefix(id, prefix) {
				delete(h.maps, id)
			}
		}
		h.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
		return
	}
	http.Error(w, "no such VM", http.StatusNotFound)
}

// tagSnapshot gives every disk of the VM's newest snapshot a fresh changeId and remembers the
// disk's blocks under it. The snapshot's device list is copied so the VM's own devices keep theirs.
func (h *harness) tagSnapshot(vm *simulator.VirtualMachine, maps map[int32]*blockMap) {
	var snapRef *types.ManagedObjectReference
	simulator.Map.WithLock(vm, func() {
		if vm.Snapshot != nil {
			snapRef = vm.Snapshot.CurrentSnapshot
		}
	})
	if snapRef == nil {
		return
	}
	snap := simulator.Map.Get(*snapRef).(*simulator.VirtualMachineSnapshot)
	h.mu.Lock()
	defer h.mu.Unlock()
	simulator.Map.WithLock(snap, func() {
		devices := make([]types.BaseVirtualDevice, len(snap.Config.Hardware.Device))
		for i, dev := range snap.Config.Hardware.Device {
			devices[i] = dev
			disk, ok := dev.(*types.VirtualDisk)
			if !ok || maps[disk.Key] == nil {
				continue
			}
			m := maps[disk.Key]
			h.sequence++
			copyDisk := *disk
			switch b := disk.Backing.(type) {
			case *types.VirtualDiskFlatVer2BackingInfo:
				backing := *b
				backing.ChangeId = fmt.Sprintf("52 %s/%d", strings.ReplaceAll(vm.Config.Uuid, "-", ""), h.sequence)
				copyDisk.Backing = &backing
				h.maps[backing.ChangeId] = m
			case *types.VirtualDiskRawDiskMappingVer1BackingInfo:
				backing := *b
				backing.ChangeId = fmt.Sprintf("52 %s/%d", strings.ReplaceAll(vm.Config.Uuid, "-", ""), h.sequence)
				copyDisk.Backing = &backing
				h.maps[backing.ChangeId] = m
			}
			devices[i] = &copyDisk
		}
		snap.Config.Hardware.Device = devices
	})
}

func (h *harness) queryChangedDiskAreas(w http.ResponseWriter, fields map[string]string) {
	vm, ok := simulator.Map.Get(types.ManagedObjectReference{Type: "VirtualMachine", Value: fields["_this"]}).(*simulator.VirtualMachine)
	if !ok {
		writeFault(w, "The object has already been deleted or has not been completely created", "ManagedObjectNotFound", "")
		return
	}
	var key, start int64
	if _, err := fmt.Sscan(fields["deviceKey"], &key); err != nil {
		writeFault(w, "A specified parameter was not correct: deviceKey", "InvalidArgument", "deviceKey")
		return
	}
	if _, err := fmt.Sscan(fields["startOffset"], &start); err != nil || start < 0 {
		writeFault(w, "A specified parameter was not correct: startOffset", "InvalidArgument", "startOffset")
		return
	}
	snapRef := fields["snapshot"]
	changeID := fields["changeId"]

	var current *blockMap
	var capacity int64
	var fault string
	simulator.Map.WithLock(vm, func() {
		if vm.Config.ChangeTrackingEnabled == nil || !*vm.Config.ChangeTrackingEnabled {
			fault = "changeTrackingEnabled"
			return
		}
		devices := vm.Config.Hardware.Device
		if snapRef != "" {
			snap, ok := simulator.Map.Get(types.ManagedObjectReference{Type: "VirtualMachineSnapshot", Value: snapRef}).(*simulator.VirtualMachineSnapshot)
			if !ok {
				fault = "snapshot"
				return
			}
			devices = snap.Config.Hardware.Device
		}
		disk, ok := object.VirtualDeviceList(devices).FindByKey(int32(key)).(*types.VirtualDisk)
		if !ok {
			fault = "deviceKey"
			return
		}
		capacity = disk.CapacityInKB * 1024
		if id := diskChangeID(disk); snapRef != "" && id != nil {
			h.mu.Lock()
			current = h.maps[*id]
			h.mu.Unlock()
		}
		if current == nil {
			current, _ = h.blockMapOf(flatPath(disk))
		}
	})
	if fault != "" || current == nil {
		if fault == "" {
			fault = "deviceKey"
		}
		writeFault(w, "A specified parameter was not correct: "+fault, "InvalidArgument", fault)
		return
	}
	var previous *blockMap
	if changeID != "*" {
		h.mu.Lock()
		previous = h.maps[changeID]
		h.mu.Unlock()
		if previous == nil {
			writeFault(w, "A specified parameter was not correct: changeId", "InvalidArgument", "changeId")
			return
		}
	}
	if start >= capacity {
		writeFault(w, "A specified parameter was not correct: startOffset", "InvalidArgument", "startOffset")
		return
	}
	end := start + h.window
	if end > capacity {
		end = capacity
	}
	var out strings.Builder
	fmt.Fprintf(&out, "<QueryChangedDiskAreasResponse xmlns=\"urn:vim25\"><returnval><startOffset>%d</startOffset><length>%d</length>", start, end-start)
	areaStart, areaLen := int64(-1), int64(0)
	flush := func() {
		if areaStart >= 0 {
			fmt.Fprintf(&out, "<changedArea><start>%d</start><length>%d</length></changedArea>", areaStart, areaLen)
		}
		areaStart, areaLen = -1, 0
	}
	for block := start / cbtBlock; block*cbtBlock < end; block++ {
		offset := block * cbtBlock
		length := int64(cbtBlock)
		if offset+length > capacity {
			length = capacity - offset
		}
		var now, before [32]byte
		nowKnown := block < int64(len(current.digest))
		if nowKnown {
			now = current.digest[block]
		}
		changed := false
		if previous == nil {
			changed = nowKnown && now != zeroBlock && now != sha256.Sum256(make([]byte, length))
		} else {
			beforeKnown := block < int64(len(previous.digest))
			if beforeKnown {
				before = previous.digest[block]
			}
			changed = nowKnown != beforeKnown || now != before
		}
		if !changed {
			flush()
			continue
		}
		if areaStart < 0 {
			areaStart = offset
		}
		areaLen = offset + length - areaStart
	}
	flush()
	out.WriteString("</returnval></QueryChangedDiskAreasResponse>")
	writeResponse(w, out.String())
}

const envelopeStart = `<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
	`<soapenv:Envelope xmlns:soapenc="http://schemas.xmlsoap.org/soap/encoding/" xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>`
const envelopeEnd = `</soapenv:Body></soapenv:Envelope>`

func writeResponse(w http.ResponseWriter, body string) {
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, envelopeStart+body+envelopeEnd)
}

func writeFault(w http.ResponseWriter, message, kind, property string) {
	detail := ""
	if property != "" {
		detail = "<invalidProperty>" + property + "</invalidProperty>"
	}
	var text bytes.Buffer
	_ = xml.EscapeText(&text, []byte(message))
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(http.StatusInternalServerError)
	_, _ = fmt.Fprintf(w, "%s<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>%s</faultstring><detail><%sFault xmlns=\"urn:vim25\" xsi:type=\"%s\">%s</%sFault></detail></soapenv:Fault>%s",
		envelopeStart, text.String(), kind, kind, detail, kind, envelopeEnd)
}

// retrieveBench logs in with govmomi, then -runs times reads every VM, folder, datacenter, network,
// portgroup, host and datastore with the properties rehost's estate() reads, decodes every object
// into its govmomi type, and prints {"objects": N, "ms": [...]} (one figure per run).
func retrieveBench(args []string) {
	fs := flag.NewFlagSet("retrieve", flag.ExitOnError)
	rawURL := fs.String("url", "", "SDK URL")
	ca := fs.String("ca", "", "CA file")
	user := fs.String("user", "administrator@vsphere.local", "user")
	runs := fs.Int("runs", 5, "runs")
	_ = fs.Parse(args)
	ctx := context.Background()
	u, err := soap.ParseURL(*rawURL)
	if err != nil {
		log.Fatal(err)
	}
	sc := soap.NewClient(u, false)
	if err := sc.SetRootCAs(*ca); err != nil {
		log.Fatal(err)
	}
	c, err := vim25.NewClient(ctx, sc)
	if err != nil {
		log.Fatal(err)
	}
	if err := session.NewManager(c).Login(ctx, url.UserPassword(*user, os.Getenv("VCSIM_PASSWORD"))); err != nil {
		log.Fatal(err)
	}
	props := map[string][]string{
		"VirtualMachine": {"name", "parent", "config.uuid", "config.instanceUuid", "config.template", "config.hardware.numCPU", "config.hardware.memoryMB",
			"config.hardware.device", "config.guestId", "config.firmware", "config.changeTrackingEnabled", "runtime.powerState", "guest.guestFamily",
			"guest.ipAddress", "guest.net", "snapshot"},
		"Folder":                      {"name", "parent"},
		"Datacenter":                  {"name", "vmFolder"},
		"Network":                     {"name"},
		"DistributedVirtualPortgroup": {"name", "key", "config.defaultPortConfig", "tag"},
		"HostSystem":                  {"name", "runtime.connectionState", "runtime.powerState"},
		"Datastore":                   {"name", "summary.type", "summary.capacity", "summary.freeSpace"},
	}
	kinds := []string{"VirtualMachine", "Folder", "Datacenter", "Network", "DistributedVirtualPortgroup", "HostSystem", "Datastore"}
	var times []float64
	objects := 0
	for i := 0; i < *runs; i++ {
		start := time.Now()
		v, err := view.NewManager(c).CreateContainerView(ctx, c.ServiceContent.RootFolder, kinds, true)
		if err != nil {
			log.Fatal(err)
		}
		spec := types.PropertyFilterSpec{
			ObjectSet: []types.ObjectSpec{{
				Obj:  v.Reference(),
				Skip: types.NewBool(true),
				SelectSet: []types.BaseSelectionSpec{&types.TraversalSpec{
					SelectionSpec: types.SelectionSpec{Name: "view"}, Type: "ContainerView", Path: "view", Skip: types.NewBool(false),
				}},
			}},
		}
		for _, kind := range kinds {
			spec.PropSet = append(spec.PropSet, types.PropertySpec{Type: kind, PathSet: props[kind]})
		}
		res, err := methods.RetrievePropertiesEx(ctx, c, &types.RetrievePropertiesEx{This: c.ServiceContent.PropertyCollector, SpecSet: []types.PropertyFilterSpec{spec}})
		if err != nil {
			log.Fatal(err)
		}
		objects = 0
		if res.Returnval != nil {
			for _, o := range res.Returnval.Objects {
				if _, err := mo.ObjectContentToType(o); err != nil {
					log.Fatal(err)
				}
				objects++
			}
		}
		_ = v.Destroy(ctx)
		times = append(times, float64(time.Since(start).Microseconds())/1000)
	}
	out, _ := json.Marshal(map[string]interface{}{"objects": objects, "ms": times})
	fmt.Println(string(out))
}
