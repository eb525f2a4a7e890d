package io.sparkformer.driver.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;

import org.junit.jupiter.api.Test;

/** BLEU against values worked out by hand from sacreBLEU's definition. */
class BleuTest {
    @Test
    void tokenizes13aAsMteval() {
        assertEquals("Hello , world .", Bleu.tokenize13a("Hello, world."));
        assertEquals("It costs 3.50 , or 4,000 in 2024 - 25 .", Bleu.tokenize13a("It costs 3.50, or 4,000 in 2024-25."));
        assertEquals("a \" quoted \" & ( bracketed ) word", Bleu.tokenize13a("a &quot;quoted&quot; &amp; (bracketed)  word"));
        assertEquals("don't", Bleu.tokenize13a("don't"), "the apostrophe (0x27) is outside 13a's punctuation ranges");
    }

    @Test
    void identicalTextScores100AndTokenizationIsApplied() {
        assertEquals(100.0, Bleu.corpus(List.of("the cat sat on the mat"), List.of("the cat sat on the mat")), 1e-9);
        assertEquals(100.0, Bleu.corpus(List.of("Hello, world. Nice day."), List.of("Hello , world . Nice day .")), 1e-9);
    }

    @Test
    void shortHypothesisWithMissingHigherOrdersIsSmoothedAndPenalised() {
        // hyp "the cat the cat" (4 tokens), ref "the cat sat on the mat" (6 tokens):
        // 1-grams: the 2 (ref 2) + cat 2 (ref 1) -> 3 of 4; 2-grams: "the cat" x2 (ref 1), "cat the" -> 1 of 3;
        // 3-grams 0 of 2 -> exp smoothing 100 / (2 * 2) = 25; 4-grams 0 of 1 -> 100 / (4 * 1) = 25;
        // brevity penalty exp(1 - 6/4)
        double expected = Math.exp(1 - 6.0 / 4) * Math.exp((Math.log(75) + Math.log(100.0 / 3) + Math.log(25) + Math.log(25)) / 4);
        assertEquals(expected, Bleu.corpus(List.of("the cat the cat"), List.of("the cat sat on the mat")), 1e-9);
        assertEquals(21.4441, expected, 1e-4);
    }

    @Test
    void corpusScoreAddsStatisticsBeforeScoring() {
        // "a b c d" exact; "x y" against "x z": 1-grams 4+1 of 6, 2-grams 3+0 of 4, 3-grams 2 of 2,
        // 4-grams 1 of 1; lengths 6 and 6, no penalty
        double expected = 100 * Math.pow(5.0 / 6 * 3.0 / 4 * 1 * 1, 0.25);
        assertEquals(expected, Bleu.corpus(List.of("a b c d", "x y"), List.of("a b c d", "x z")), 1e-9);
        assertEquals(88.9140, expected, 1e-4);
        // an empty hypothesis scores 0
        assertEquals(0.0, Bleu.corpus(List.of(""), List.of("a b")), 1e-12);
    }
}
