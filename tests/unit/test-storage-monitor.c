/* test-storage-monitor.c: VmlStorageMonitor with real GUdev against a
 * umockdev testbed (fake sysfs and /dev, uevents sent by the testbed).
 * Must run with umockdev's preload library (umockdev-wrapper). */
#include "config.h"

#include <glib/gstdio.h>
#include <umockdev.h>

#include "vml-storage-block.h"
#include "vml-storage-monitor.h"

#define DISK0 "/sys/devices/virtual/block/vmltest0"
#define DISK1 "/sys/devices/virtual/block/vmltest1"

typedef struct {
  UMockdevTestbed   *testbed;
  VmlStorageMonitor *monitor;
  VmlLockspace      *ls;
  GPtrArray         *whys;     /* "device-failing" reasons, in order */
  GPtrArray         *recoveries;  /* "device-recovered" reasons, in order */
} Fixture;

static void
add_disk_sized (UMockdevTestbed *testbed, const char *name, unsigned int minor_nr,
                unsigned int sector_size)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *record = g_strdup_printf (
      "P: /devices/virtual/block/%s\n"
      "N: %s\n"
      "E: SUBSYSTEM=block\n"
      "E: DEVNAME=/dev/%s\n"
      "E: DEVTYPE=disk\n"
      "E: MAJOR=259\n"
      "E: MINOR=%u\n"
      "A: dev=259:%u\n"
      "A: ro=0\n"
      "A: size=2048\n"
      "A: queue/logical_block_size=%u\n",
      name, name, name, minor_nr, minor_nr, sector_size);

  g_assert_true (umockdev_testbed_add_from_string (testbed, record, &error));
  g_assert_no_error (error);
}

static void
add_disk (UMockdevTestbed *testbed, const char *name, unsigned int minor_nr)
{
  add_disk_sized (testbed, name, minor_nr, 512);
}

static void
on_device_failing (VmlStorageMonitor *monitor, VmlLockspace *ls, const char *why, gpointer data)
{
  Fixture *f = data;

  /* Only ls0 unless a test says otherwise. */
  if (ls == f->ls)
    g_ptr_array_add (f->whys, g_strdup (why));
  else
    g_ptr_array_add (f->whys, g_strdup_printf ("%s: %s", vml_lockspace_get_name (ls), why));
}

static void
on_device_recovered (VmlStorageMonitor *monitor, VmlLockspace *ls, const char *why, gpointer data)
{
  Fixture *f = data;

  g_ptr_array_add (f->recoveries, g_strdup_printf ("%s: %s", vml_lockspace_get_name (ls), why));
}

static void
fixture_set_up (Fixture *f, gconstpointer data)
{
  f->testbed = umockdev_testbed_new ();
  add_disk (f->testbed, "vmltest0", 7);
  add_disk (f->testbed, "vmltest1", 8);
  f->monitor = vml_storage_monitor_new ();
  f->ls = vml_lockspace_new ("ls0", 1, "/dev/vmltest0", 0, 1);
  f->whys = g_ptr_array_new_with_free_func (g_free);
  f->recoveries = g_ptr_array_new_with_free_func (g_free);
  g_signal_connect (f->monitor, "device-failing", G_CALLBACK (on_device_failing), f);
  g_signal_connect (f->monitor, "device-recovered", G_CALLBACK (on_device_recovered), f);
}

static void
fixture_tear_down (Fixture *f, gconstpointer data)
{
  g_clear_object (&f->monitor);
  g_clear_object (&f->ls);
  g_clear_object (&f->testbed);
  g_ptr_array_unref (f->whys);
  g_ptr_array_unref (f->recoveries);
}

/* Runs the main loop until @n "device-failing" signals came, or 5 s. */
static void
wait_for_signals (Fixture *f, guint n)
{
  gint64 deadline = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;

  while (f->whys->len < n && g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, FALSE) || (g_usleep (1000), TRUE);
}

/* A uevent for the watched disk that is known to be reported (its remove):
 * everything sent before it has been handled once its signal arrives. */
static void
flush_with_remove (Fixture *f, guint expected_before)
{
  umockdev_testbed_uevent (f->testbed, DISK0, "remove");
  wait_for_signals (f, expected_before + 1);
  g_assert_cmpuint (f->whys->len, ==, expected_before + 1);
  g_assert_nonnull (strstr (g_ptr_array_index (f->whys, expected_before), "removed"));
}

static void
test_mock_environment (Fixture *f, gconstpointer data)
{
  g_assert_true (umockdev_in_mock_environment ());
}

static void
test_remove (Fixture *f, gconstpointer data)
{
  g_assert_true (vml_storage_monitor_watch (f->monitor, f->ls));
  /* Another disk going away is none of this lockspace's business. */
  umockdev_testbed_uevent (f->testbed, DISK1, "remove");
  umockdev_testbed_uevent (f->testbed, DISK0, "remove");
  wait_for_signals (f, 1);
  g_assert_cmpuint (f->whys->len, ==, 1);
  g_assert_cmpstr (g_ptr_array_index (f->whys, 0), ==, "block device /dev/vmltest0 was removed");
}

/* The device's "ro" attribute, and the change uevent the kernel sends. */
static void
set_read_only (Fixture *f, const char *disk, const char *ro)
{
  umockdev_testbed_set_attribute (f->testbed, disk, "ro", ro);
  umockdev_testbed_uevent (f->testbed, disk, "change");
}

static void
test_read_only (Fixture *f, gconstpointer data)
{
  g_assert_true (vml_storage_monitor_watch (f->monitor, f->ls));
  /* A change that leaves it writable, and another disk going read-only. */
  umockdev_testbed_uevent (f->testbed, DISK0, "change");
  set_read_only (f, DISK1, "1");
  set_read_only (f, DISK0, "1");
  /* Still read-only: reported once, not on every change. */
  umockdev_testbed_uevent (f->testbed, DISK0, "change");
  wait_for_signals (f, 1);
  g_assert_cmpuint (f->whys->len, ==, 1);
  g_assert_cmpstr (g_ptr_array_index (f->whys, 0), ==, "block device /dev/vmltest0 went read-only");
  flush_with_remove (f, 1);
  /* Writable again, then read-only again: reported again. */
  set_read_only (f, DISK0, "0");
  flush_with_remove (f, 2);
  /* The kernel's change event for it says DISK_RO=1 (sysfs still says 0). */
  umockdev_testbed_set_property (f->testbed, DISK0, "DISK_RO", "1");
  umockdev_testbed_uevent (f->testbed, DISK0, "change");
  wait_for_signals (f, 4);
  g_assert_cmpuint (f->whys->len, ==, 4);
  g_assert_nonnull (strstr (g_ptr_array_index (f->whys, 3), "read-only"));
}

/* Writable again after it went read-only: "device-recovered", once; a
 * lockspace that is not failing (this one was never joined) is left as it
 * is. */
static void
test_recovered (Fixture *f, gconstpointer data)
{
  g_assert_true (vml_storage_monitor_watch (f->monitor, f->ls));
  /* Writable all along: nothing to recover from. */
  umockdev_testbed_uevent (f->testbed, DISK0, "change");
  set_read_only (f, DISK0, "1");
  wait_for_signals (f, 1);
  set_read_only (f, DISK0, "0");
  umockdev_testbed_uevent (f->testbed, DISK0, "change");
  flush_with_remove (f, 1);
  g_assert_cmpuint (f->recoveries->len, ==, 1);
  g_assert_cmpstr (g_ptr_array_index (f->recoveries, 0), ==,
                   "ls0: block device /dev/vmltest0 is writable again");
  g_assert_cmpint (vml_lockspace_get_state (f->ls), ==, VML_LOCKSPACE_LOST);
}

static void
test_unwatch (Fixture *f, gconstpointer data)
{
  g_autoptr(VmlLockspace) other = vml_lockspace_new ("ls1", 1, "/dev/vmltest1", 0, 1);

  g_assert_true (vml_storage_monitor_watch (f->monitor, f->ls));
  g_assert_true (vml_storage_monitor_watch (f->monitor, other));
  vml_storage_monitor_unwatch (f->monitor, other);
  umockdev_testbed_uevent (f->testbed, DISK1, "remove");
  flush_with_remove (f, 0);
  vml_storage_monitor_unwatch (f->monitor, f->ls);
  umockdev_testbed_uevent (f->testbed, DISK0, "remove");
  /* Flushed by the other lockspace, watched again. */
  g_assert_true (vml_storage_monitor_watch (f->monitor, other));
  umockdev_testbed_uevent (f->testbed, DISK1, "remove");
  wait_for_signals (f, 2);
  g_assert_cmpuint (f->whys->len, ==, 2);
  g_assert_cmpstr (g_ptr_array_index (f->whys, 1), ==, "ls1: block device /dev/vmltest1 was removed");
}

static void
test_not_block_device (Fixture *f, gconstpointer data)
{
  g_autoptr(VmlLockspace) file_ls = NULL;
  g_autofree char *dir = g_dir_make_tmp ("vml-storage-XXXXXX", NULL);
  g_autofree char *file = g_build_filename (dir, "leases", NULL);

  g_assert_true (g_file_set_contents (file, "", 0, NULL));
  file_ls = vml_lockspace_new ("ls2", 1, file, 0, 1);
  g_assert_false (vml_storage_monitor_watch (f->monitor, file_ls));
  g_assert_cmpint (g_unlink (file), ==, 0);
  g_assert_cmpint (g_rmdir (dir), ==, 0);
  /* A path that does not exist at all. */
  g_clear_object (&file_ls);
  file_ls = vml_lockspace_new ("ls3", 1, "/dev/vmlnosuch", 0, 1);
  g_assert_false (vml_storage_monitor_watch (f->monitor, file_ls));
}

/* mark_failing acts on a joined lockspace only: one never joined (this
 * one: no sanlock here) keeps its state and error. */
static void
test_not_joined_left_alone (Fixture *f, gconstpointer data)
{
  g_assert_true (vml_storage_monitor_watch (f->monitor, f->ls));
  g_assert_cmpint (vml_lockspace_get_state (f->ls), ==, VML_LOCKSPACE_LOST);
  flush_with_remove (f, 0);
  g_assert_cmpint (vml_lockspace_get_state (f->ls), ==, VML_LOCKSPACE_LOST);
  g_assert_null (vml_lockspace_get_error (f->ls));
  g_assert_false (vml_lockspace_mark_failing (f->ls, "test"));
}

static void
test_logical_block_size (Fixture *f, gconstpointer data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("vml-storage-XXXXXX", NULL);
  g_autofree char *file = g_build_filename (dir, "leases", NULL);

  add_disk_sized (f->testbed, "vmltest4k", 9, 4096);
  /* A partition of the 4K disk: the attribute is its disk's. */
  g_assert_true (umockdev_testbed_add_from_string (f->testbed,
      "P: /devices/virtual/block/vmltest4k/vmltest4k1\n"
      "N: vmltest4k1\n"
      "E: SUBSYSTEM=block\n"
      "E: DEVNAME=/dev/vmltest4k1\n"
      "E: DEVTYPE=partition\n"
      "E: MAJOR=259\n"
      "E: MINOR=10\n"
      "A: dev=259:10\n"
      "A: partition=1\n", &error));
  g_assert_no_error (error);
  g_assert_cmpuint (vml_storage_logical_block_size ("/dev/vmltest0"), ==, 512);
  g_assert_cmpuint (vml_storage_logical_block_size ("/dev/vmltest4k"), ==, 4096);
  g_assert_cmpuint (vml_storage_logical_block_size ("/dev/vmltest4k1"), ==, 4096);
  g_assert_true (g_file_set_contents (file, "", 0, NULL));
  g_assert_cmpuint (vml_storage_logical_block_size (file), ==, 0);
  g_assert_cmpuint (vml_storage_logical_block_size ("/dev/vmlnosuch"), ==, 0);
  g_assert_cmpint (g_unlink (file), ==, 0);
  g_assert_cmpint (g_rmdir (dir), ==, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(path, func) \
  g_test_add (path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)
  ADD ("/storage-monitor/mock-environment", test_mock_environment);
  ADD ("/storage-monitor/remove", test_remove);
  ADD ("/storage-monitor/read-only", test_read_only);
  ADD ("/storage-monitor/recovered", test_recovered);
  ADD ("/storage-monitor/unwatch", test_unwatch);
  ADD ("/storage-monitor/not-block-device", test_not_block_device);
  ADD ("/storage-monitor/not-joined-left-alone", test_not_joined_left_alone);
  ADD ("/storage-monitor/logical-block-size", test_logical_block_size);
  return g_test_run ();
}
