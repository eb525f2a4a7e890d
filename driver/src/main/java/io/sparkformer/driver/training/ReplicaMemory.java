package io.sparkformer.driver.training;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

import io.sparkformer.model.ParameterBuffer;
import io.sparkformer.model.ParameterLayout;

/**
 * A replica's parameters in shared memory ({@link SharedMemory}) when its executor shares block
 * memory: a peer executor on this host then averages this replica's raw slices where they lie,
 * with no copy into a block region first (for GPT-2 small, 248 MB a round and about 0.3 GB of
 * an executor's memory). Anywhere else, and for vectors a mapping cannot hold (2 GiB and more), ND4J's own
 * memory as before. The region is this JVM's until {@link #free}; the kernel frees it with the
 * last process mapping it, so a killed executor leaves nothing on /dev/shm.
 */
final class ReplicaMemory implements ParameterBuffer.Memory {
    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(ReplicaMemory.class);

    private SharedMemory.Region region;

    @Override
    public synchronized INDArray zeros(ParameterLayout layout, DataType dataType) {
        long bytes = 4 * layout.size();
        if (region == null && dataType == DataType.FLOAT && bytes <= Integer.MAX_VALUE - SharedMemory.HEADER_BYTES
                && BlockMemory.sharing() && Nd4j.getEnvironment().isCPU()) {
            region = SharedMemory.create((int) bytes); // zeros, every page written: a full /dev/shm fails here
            if (region != null) {
                BlockMemory.addReplicaRegion(region, bytes);
                LOG.info("replica parameters in shared memory: {} MiB", bytes >> 20);
                return ParameterBuffer.floatsOver(BlockMemory.view(region.address(), (int) bytes));
            }
        }
        return ParameterBuffer.Memory.ND4J.zeros(layout, dataType);
    }

    /** Whether the parameters are in shared memory. */
    synchronized boolean shared() {
        return region != null;
    }

    /** Gives the region back once nothing reads the replica any more (its trainer is dropped). */
    synchronized void free() {
        if (region != null) {
            BlockMemory.removeReplicaRegion(region);
            region.free();
            region = null;
        }
    }
}
