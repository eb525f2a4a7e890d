package io.sparkformer.driver.ml;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.function.UnaryOperator;

/**
 * The models of this JVM for the inference stages: each path read once, then one copy per task
 * using it at a time (a forward pass owns its model's buffers), kept for the next task. Keys name
 * the path and what was made of it, so two stages reading one checkpoint differently do not mix.
 */
final class ExecutorModels {
    private static final Map<String, Object> READ = new ConcurrentHashMap<>();
    private static final Map<String, ConcurrentLinkedQueue<Object>> IDLE = new ConcurrentHashMap<>();

    /** Something that reads a model (and may fail with an I/O error). */
    interface Loader<T> {
        T load() throws java.io.IOException;
    }

    private ExecutorModels() {}

    /** An idle copy of the model {@code key} names, or the one this call reads, or a fresh copy of the one read. */
    @SuppressWarnings("unchecked")
    static <T> T borrow(String key, Loader<T> loader, UnaryOperator<T> copy) {
        Object idle = IDLE.computeIfAbsent(key, k -> new ConcurrentLinkedQueue<>()).poll();
        if (idle != null) {
            return (T) idle;
        }
        boolean[] fresh = {false};
        T read = (T) READ.computeIfAbsent(key, k -> {
            fresh[0] = true;
            try {
                return loader.load();
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
        // the first task takes the model it read; another at the same time, a copy of its weights
        return fresh[0] ? read : copy.apply(read);
    }

    static void giveBack(String key, Object model) {
        IDLE.get(key).add(model);
    }

    /** {@code work} on a borrowed model (see {@link #borrow}), given back afterwards, whatever happens. */
    static <T, R> R using(String key, Loader<T> loader, UnaryOperator<T> copy, java.util.function.Function<T, R> work) {
        T model = borrow(key, loader, copy);
        try {
            return work.apply(model);
        } finally {
            giveBack(key, model);
        }
    }

    /** {@code read} with a copy of its weights; tokenizer, job config and labels shared (nothing changes them). */
    static io.sparkformer.driver.models.TrainedModel copy(io.sparkformer.driver.models.TrainedModel read) {
        return new io.sparkformer.driver.models.TrainedModel(read.checkpoint(), copyWeights(read.model()), read.tokenizer(),
                read.config(), read.labels());
    }

    /** A model of the same shape with {@code read}'s weights (inference never changes them). */
    @SuppressWarnings("unchecked")
    static <M extends io.sparkformer.model.Model> M copyWeights(M read) {
        io.sparkformer.model.Model copy = io.sparkformer.model.Model.create(read.config(), read.dataType());
        io.sparkformer.model.ParameterBuffer.copyInto(read.parameters().flat().toFloatVector(), copy.parameters().flat());
        return (M) copy;
    }
}
