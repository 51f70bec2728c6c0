// vcsim for the tests (test/support/vcsim.ts): govmomi's vSphere simulator (Debian's
// golang-github-vmware-govmomi-dev) on 127.0.0.1 with the TLS certificate the test gives it, plus
// one VM whose disks are flat vmdk files in the simulator's datastore directory. It prints one JSON
// line describing what it made, then serves until stdin closes or SIGTERM.
package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"path"
	"strconv"
	"strings"
	"syscall"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

type disk struct {
	Key      int32  `json:"key"`
	FileName string `json:"fileName"`
	Flat     string `json:"flat"`
	Capacity int64  `json:"capacity"`
	// The descriptor file and its text (the test writes it back if vcsim deletes it).
	Descriptor     string `json:"descriptor"`
	DescriptorText string `json:"descriptorText"`
}

type made struct {
	URL          string `json:"url"`
	Datacenter   string `json:"datacenter"`
	Datastore    string `json:"datastore"`
	DatastoreDir string `json:"datastoreDir"`
	VM           string `json:"vm"`
	VMPath       string `json:"vmPath"`
	Disks        []disk `json:"disks"`
}

func main() {
	cert := flag.String("cert", "", "PEM certificate")
	key := flag.String("key", "", "PEM key")
	name := flag.String("vm", "vmw", "name of the VM to make")
	disks := flag.String("disks", "2000=8388608", "KEY=BYTES,... of the VM's disks")
	cbt := flag.Bool("cbt", true, "make the VM with changed block tracking on")
	username := flag.String("username", "user", "the one user that may log in (its password in VCSIM_PASSWORD)")
	flag.Parse()
	if err := run(*cert, *key, *name, *disks, *cbt, url.UserPassword(*username, os.Getenv("VCSIM_PASSWORD"))); err != nil {
		fmt.Fprintln(os.Stderr, "vcsim:", err)
		os.Exit(1)
	}
}

func run(certFile, keyFile, name, disks string, cbt bool, user *url.Userinfo) error {
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return err
	}
	model := simulator.VPX()
	model.Machine = 0
	defer model.Remove()
	if err := model.Create(); err != nil {
		return err
	}
	model.Service.Listen = &url.URL{Host: "127.0.0.1:0", User: user}
	model.Service.TLS = &tls.Config{Certificates: []tls.Certificate{pair}}
	server := model.Service.NewServer()
	defer server.Close()

	ctx := context.Background()
	login := *server.URL
	client, err := govmomi.NewClient(ctx, &login, true)
	if err != nil {
		return err
	}
	finder := find.NewFinder(client.Client)
	dc, err := finder.Datacenter(ctx, "DC0")
	if err != nil {
		return err
	}
	finder.SetDatacenter(dc)
	ds, err := finder.Datastore(ctx, "LocalDS_0")
	if err != nil {
		return err
	}
	dsDir := simulator.Map.Get(ds.Reference()).(*simulator.Datastore).Info.GetDatastoreInfo().Url
	pool, err := finder.ResourcePool(ctx, "/DC0/host/DC0_C0/Resources")
	if err != nil {
		return err
	}
	folders, err := dc.Folders(ctx)
	if err != nil {
		return err
	}

	var devices []types.BaseVirtualDeviceConfigSpec
	devices = append(devices, &types.VirtualDeviceConfigSpec{
		Operation: types.VirtualDeviceConfigSpecOperationAdd,
		Device: &types.ParaVirtualSCSIController{VirtualSCSIController: types.VirtualSCSIController{
			VirtualController: types.VirtualController{VirtualDevice: types.VirtualDevice{Key: 1000}, BusNumber: 0},
			SharedBus:         types.VirtualSCSISharingNoSharing,
		}},
	})
	var out []disk
	for i, entry := range strings.Split(disks, ",") {
		parts := strings.SplitN(entry, "=", 2)
		k, err := strconv.Atoi(parts[0])
		if err != nil || len(parts) != 2 {
			return fmt.Errorf("bad -disks entry %q", entry)
		}
		size, err := strconv.ParseInt(parts[1], 10, 64)
		if err != nil {
			return fmt.Errorf("bad -disks entry %q", entry)
		}
		base := fmt.Sprintf("%s/%s_%d", name, name, i)
		unit := int32(i)
		d := disk{Key: int32(k), FileName: fmt.Sprintf("[LocalDS_0] %s.vmdk", base), Flat: path.Join(dsDir, base+"-flat.vmdk"), Capacity: size}
		out = append(out, d)
		devices = append(devices, &types.VirtualDeviceConfigSpec{
			Operation:     types.VirtualDeviceConfigSpecOperationAdd,
			FileOperation: types.VirtualDeviceConfigSpecFileOperationCreate,
			Device: &types.VirtualDisk{
				VirtualDevice: types.VirtualDevice{
					Key:           d.Key,
					ControllerKey: 1000,
					UnitNumber:    &unit,
					Backing: &types.VirtualDiskFlatVer2BackingInfo{
						VirtualDeviceFileBackingInfo: types.VirtualDeviceFileBackingInfo{FileName: d.FileName},
						DiskMode:                     string(types.VirtualDiskModePersistent),
						ThinProvisioned:              types.NewBool(true),
					},
				},
				CapacityInBytes: size,
				CapacityInKB:    size / 1024,
			},
		})
	}
	spec := types.VirtualMachineConfigSpec{
		Name:                  name,
		GuestId:               string(types.VirtualMachineGuestOsIdentifierOtherGuest64),
		Files:                 &types.VirtualMachineFileInfo{VmPathName: "[LocalDS_0]"},
		DeviceChange:          devices,
		ChangeTrackingEnabled: types.NewBool(cbt),
	}
	task, err := folders.VmFolder.CreateVM(ctx, spec, pool, nil)
	if err != nil {
		return err
	}
	info, err := task.WaitForResult(ctx, nil)
	if err != nil {
		return err
	}
	vm := object.NewVirtualMachine(client.Client, info.Result.(types.ManagedObjectReference))
	// A flat disk as VMware lays it out: a descriptor naming its one extent, the data file beside it.
	for i := range out {
		d := &out[i]
		descriptor := strings.TrimSuffix(d.Flat, "-flat.vmdk") + ".vmdk"
		text := fmt.Sprintf("# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType=\"vmfs\"\n\n# Extent description\nRW %d VMFS \"%s\"\n\n# The Disk Data Base\nddb.adapterType = \"lsilogic\"\nddb.thinProvisioned = \"1\"\n", d.Capacity/512, path.Base(d.Flat))
		d.Descriptor, d.DescriptorText = descriptor, text
		if err := os.WriteFile(descriptor, []byte(text), 0o644); err != nil {
			return err
		}
		if err := os.Truncate(d.Flat, d.Capacity); err != nil {
			return err
		}
	}
	if _, err := vm.PowerOn(ctx); err != nil {
		_ = err // powered on when it can; not needed by the reader
	}
	_ = client.Logout(ctx)

	printed := *server.URL
	printed.User = nil
	line, _ := json.Marshal(made{URL: printed.String(), Datacenter: "DC0", Datastore: "LocalDS_0", DatastoreDir: dsDir, VM: vm.Reference().Value, VMPath: "/DC0/vm/" + name, Disks: out})
	fmt.Println(string(line))

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	closed := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(closed)
	}()
	select {
	case <-stop:
	case <-closed:
	}
	return nil
}
