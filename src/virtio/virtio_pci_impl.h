/*
 * Inside the virtio-pci transport: what the modern interface (virtio_pci.c)
 * and the legacy one (virtio_pci_legacy.c) share. Both act on the same
 * struct virtio_softc, with vs->lock held; device models never include this.
 */
#ifndef KHYVE_VIRTIO_PCI_IMPL_H
#define KHYVE_VIRTIO_PCI_IMPL_H

#include <stdbool.h>
#include <stdint.h>

#include "virtio/virtio.h"

/* Legacy interface: BAR 0, I/O space (virtio 1.1 section 4.1.4.8). */
#define VIRTIO_LEGACY_BAR 0

uint64_t virtio_offered_features(const struct virtio_softc *vs);
/* device_status written, by either interface (0: reset). */
void virtio_status_write(struct virtio_softc *vs, uint8_t val);
/* The queue queue_select names, or NULL. */
struct virtio_queue *virtio_selected_queue(struct virtio_softc *vs);
/* Start a queue whose ring addresses are set; a bad ring: NEEDS_RESET. */
void virtio_queue_enable(struct virtio_softc *vs, struct virtio_queue *q);
/* An MSI-X vector the driver may assign (or VIRTIO_NO_VECTOR). */
bool virtio_valid_vector(const struct virtio_softc *vs, uint16_t v);
void virtio_vectors_changed(struct virtio_softc *vs);
uint64_t virtio_devcfg_read(const struct virtio_softc *vs, uint64_t off, int bytes);
void virtio_devcfg_write(struct virtio_softc *vs, uint64_t off, int bytes, uint32_t val);
/* ISR status: reading clears it and lowers INTx. */
uint8_t virtio_isr_read(struct virtio_softc *vs);
/* A notification for queue q (no lock needed: the event loop does the work). */
void virtio_kick(struct virtio_softc *vs, uint64_t q);

/* The legacy interface of a transitional device. */
int virtio_legacy_init(struct pci_devinst *pi, struct virtio_softc *vs);
uint64_t virtio_legacy_read(struct virtio_softc *vs, uint64_t off, int bytes);
void virtio_legacy_write(struct virtio_softc *vs, uint64_t off, int bytes, uint64_t val);
void virtio_legacy_mapped(struct virtio_softc *vs, bool mapped, uint64_t port);

#endif
