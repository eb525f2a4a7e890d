package io.sparkformer.worker.batches;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import org.junit.jupiter.api.Test;

import io.sparkformer.model.Batch;
import io.sparkformer.model.text.SpecialTokens;
import io.sparkformer.model.text.Tokenizer;

class BatchesTest {
    private static int[] stream(int n, int vocab, long seed) {
        Random r = new Random(seed);
        int[] t = new int[n];
        for (int i = 0; i < n; i++) {
            t[i] = Tokenizer.SPECIALS.size() + r.nextInt(vocab - Tokenizer.SPECIALS.size());
        }
        return t;
    }

    @Test
    void causalTargetsAreTheNextTokensAndBatchesAreAFunctionOfTheirIndex() {
        int[] tokens = new int[1000];
        for (int i = 0; i < tokens.length; i++) {
            tokens[i] = i;
        }
        CausalLmBatches src = new CausalLmBatches(tokens, 4, 16, 7);
        Batch b = src.batch(3);
        for (int r = 0; r < 4; r++) {
            for (int i = 0; i < 16; i++) {
                assertEquals(b.ids()[r * 16 + i] + 1, b.target()[r * 16 + i]);
            }
        }
        assertArrayEquals(b.ids(), new CausalLmBatches(tokens, 4, 16, 7).batch(3).ids(), "same seed and index");
        assertNotEquals(b.ids()[0], src.batch(4).ids()[0]);
        assertThrows(IllegalArgumentException.class, () -> new CausalLmBatches(new int[5], 1, 8, 1));
    }

    @Test
    void maskedLmFollowsBertProportions() {
        int vocab = 100;
        int[] tokens = stream(50_000, vocab, 1);
        MaskedLmBatches src = new MaskedLmBatches(tokens, 32, 64, vocab, 3);
        long positions = 0, selected = 0, masked = 0, kept = 0;
        for (int k = 0; k < 200; k++) {
            Batch b = src.batch(k);
            for (int i = 0; i < b.ids().length; i++) {
                positions++;
                if (b.target()[i] == -1) {
                    assertTrue(b.ids()[i] != Tokenizer.MASK, "unselected positions are never masked");
                    continue;
                }
                selected++;
                if (b.ids()[i] == Tokenizer.MASK) {
                    masked++;
                } else if (b.ids()[i] == b.target()[i]) {
                    kept++;
                }
                assertTrue(b.target()[i] >= Tokenizer.SPECIALS.size());
            }
        }
        assertEquals(0.15, (double) selected / positions, 0.005);
        assertEquals(0.80, (double) masked / selected, 0.01);
        // kept includes random substitutions that drew the same token (1/95 of the 10%)
        assertEquals(0.10 + 0.1 / 95, (double) kept / selected, 0.01);
        assertArrayEquals(src.batch(5).ids(), new MaskedLmBatches(tokens, 32, 64, vocab, 3).batch(5).ids());
    }

    @Test
    void seq2seqBatchesAddBosEosPadAndVisitEveryPairOncePerEpoch() {
        List<int[]> src = new ArrayList<>();
        List<int[]> tgt = new ArrayList<>();
        Random r = new Random(2);
        for (int i = 0; i < 103; i++) {
            src.add(stream(1 + r.nextInt(9), 50, i));
            tgt.add(stream(1 + r.nextInt(12), 50, 1000 + i));
        }
        Seq2SeqBatches batches = new Seq2SeqBatches(src, tgt, 8, 10, true, 5);
        assertEquals(13, batches.batchesPerEpoch());
        int rowsSeen = 0;
        for (int k = 0; k < 13; k++) {
            Batch b = batches.batch(k);
            rowsSeen += b.size();
            assertTrue(b.srcLength() <= 10 && b.length() <= 10);
            for (int row = 0; row < b.size(); row++) {
                assertEquals(Tokenizer.BOS, b.ids()[row * b.length()]);
                int eos = -1;
                for (int i = 0; i < b.length(); i++) {
                    if (b.target()[row * b.length() + i] == Tokenizer.EOS) {
                        eos = i;
                    }
                }
                assertTrue(eos >= 0, "every target row ends with eos");
                for (int i = 0; i < b.length(); i++) {
                    int in = b.ids()[row * b.length() + i];
                    int out = b.target()[row * b.length() + i];
                    if (i > eos) {
                        assertEquals(-1, out);
                        assertEquals(Tokenizer.PAD, in);
                    } else if (i > 0) {
                        assertEquals(b.target()[row * b.length() + i - 1], in, "decoder input is the target shifted right");
                    }
                }
            }
        }
        assertEquals(103, rowsSeen);
        Batch one = batches.assemble(new int[] {0});
        int[] first = src.get(0);
        for (int i = 0; i < first.length && i < 9; i++) {
            assertEquals(first[i], one.src()[i]);
        }
        assertEquals(Tokenizer.EOS, one.src()[Math.min(first.length, 9)]);
    }

    @Test
    void taggingScoresEveryRealPositionAndNoPadding() {
        List<int[]> in = List.of(new int[] {5, 6, 7}, new int[] {8, 9});
        List<int[]> labels = List.of(new int[] {7, 6, 5}, new int[] {9, 8});
        Batch b = new TaggingBatches(in, labels, 2, 16, 1).assemble(new int[] {0, 1});
        assertArrayEquals(new int[] {5, 6, 7, 8, 9, Tokenizer.PAD}, b.ids());
        assertArrayEquals(new int[] {7, 6, 5, 9, 8, -1}, b.target());
        assertThrows(IllegalArgumentException.class,
                () -> new TaggingBatches(List.of(new int[] {5, 6}), List.of(new int[] {5}), 1, 16, 1));
    }

    @Test
    void completionScoresOnlyTheCompletionAndEos() {
        // prompt 5 6 7, completion 8 9: sequence 5 6 7 8 9 eos; position 2 (token 7) predicts 8
        List<int[]> prompts = List.of(new int[] {5, 6, 7}, new int[] {5});
        List<int[]> completions = List.of(new int[] {8, 9}, new int[] {6});
        Batch b = new CompletionBatches(prompts, completions, 2, 16, 1).assemble(new int[] {0, 1});
        assertEquals(5, b.length());
        assertArrayEquals(new int[] {5, 6, 7, 8, 9, 5, 6, Tokenizer.PAD, Tokenizer.PAD, Tokenizer.PAD}, b.ids());
        assertArrayEquals(new int[] {-1, -1, 8, 9, Tokenizer.EOS, 6, Tokenizer.EOS, -1, -1, -1}, b.target());
    }

    @Test
    void classificationRowsAreBosTextEosPaddedWithOneLabelEach() {
        List<int[]> texts = List.of(new int[] {5, 6, 7}, new int[] {8}, new int[] {9, 10, 11, 12, 13, 14, 15});
        List<int[]> labels = List.of(new int[] {1}, new int[] {0}, new int[] {2});
        ClassificationBatches src = new ClassificationBatches(texts, labels, 3, 6, false, 1, SpecialTokens.OWN);
        Batch b = src.assemble(new int[] {0, 1, 2});
        assertEquals(6, b.length()); // the long text cut to max length, eos kept
        assertArrayEquals(new int[] {1, 5, 6, 7, 2, 0, /**/ 1, 8, 2, 0, 0, 0, /**/ 1, 9, 10, 11, 12, 2}, b.ids());
        assertArrayEquals(new int[] {1, 0, 2}, b.labels());
        assertEquals(3, b.countedTargets());
        assertEquals(null, b.target());
        assertArrayEquals(new int[] {1, 8, 2}, ClassificationBatches.row(new int[] {8}, 6, SpecialTokens.OWN).ids());
        // every example once per epoch, batches a function of their index
        List<Integer> seen = new ArrayList<>();
        ClassificationBatches two = new ClassificationBatches(texts, labels, 2, 6, true, 4, SpecialTokens.OWN);
        for (int k = 0; k < two.batchesPerEpoch(); k++) {
            for (int l : two.batch(k).labels()) {
                seen.add(l);
            }
        }
        seen.sort(null);
        assertEquals(List.of(0, 1, 2), seen);
        assertArrayEquals(two.batch(5).ids(), new ClassificationBatches(texts, labels, 2, 6, true, 4, SpecialTokens.OWN).batch(5).ids());
        // a pretrained tokenizer's own: BERT's [CLS] text [SEP], padded with [PAD]
        SpecialTokens bert = new SpecialTokens(0, 101, 102, 103, 100);
        assertArrayEquals(new int[] {101, 8, 102, 0, 0, /**/ 101, 5, 6, 7, 102},
                new ClassificationBatches(texts, labels, 2, 6, false, 1, bert).assemble(new int[] {1, 0}).ids());
        assertThrows(IllegalArgumentException.class, () -> new ClassificationBatches(texts, List.of(new int[] {1, 2},
                new int[] {0}, new int[] {0}), 2, 6, false, 1, SpecialTokens.OWN));
    }
}
