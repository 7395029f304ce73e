/*
 * virtio-rnd (virtio entropy device, virtio 1.1 section 5.4): one queue of
 * device-writable buffers, filled from getrandom(2). bhyve's "-s N,virtio-rnd".
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>

#include "pci/pci.h"
#include "virtio/virtio.h"

struct rnd_softc {
	struct virtio_softc vs;
};

/* Fill each writable buffer; a chain the guest could only read from is malformed. */
static void rnd_notify(struct virtio_softc *vs, int q)
{
	struct virtqueue *vq = virtio_vq(vs, q);
	struct vq_chain *c = vs->chain;
	int rc;

	while ((rc = vq_pop(vq, c)) > 0) {
		uint32_t written = 0;

		for (unsigned i = c->nreadable; i < c->niov; i++) {
			ssize_t n = getrandom(c->iov[i].iov_base, c->iov[i].iov_len, GRND_NONBLOCK);

			if (n <= 0)
				break;
			written += (uint32_t)n;
			if ((size_t)n < c->iov[i].iov_len)
				break;
		}
		vq_push(vq, c->head, written);
	}
	if (rc < 0)
		virtio_needs_reset(vs);
	virtio_queue_done(vs, q);
}

static const struct virtio_devops rnd_ops = {
	.name = "virtio-rnd",
	.device_id = VIRTIO_ID_RNG,
	.pci_class = 0xff, /* "other", as other hypervisors present it */
	.nqueues = 1,
	.queue_size = 64,
	.notify = rnd_notify,
};

static int rnd_init(struct pci_devinst *pi, const struct cfg_node *node)
{
	struct rnd_softc *sc = calloc(1, sizeof(*sc));

	if (sc == NULL)
		return -1;
	return virtio_pci_init(pi, node, &sc->vs, &rnd_ops, NULL, 0);
}

static const struct pci_devemu rnd_emu = {
	.name = "virtio-rnd",
	.init = rnd_init,
	VIRTIO_PCI_HOOKS,
};
PCI_EMUL_SET(rnd_emu);
