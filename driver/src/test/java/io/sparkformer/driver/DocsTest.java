package io.sparkformer.driver;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;

/**
 * The documentation a user reads: README.md short, every link and picture of README, ROADMAP and
 * docs/ present in the tree (anchors included), and every pointer from code, configs and scripts
 * to a page naming a page and a section that exist.
 */
class DocsTest {
    private static final Path ROOT = projectRoot();
    private static final Pattern LINK = Pattern.compile("!?\\[[^\\]]*\\]\\(([^)\\s]+)\\)");
    /** A pointer from code to a page: docs/x.md, optionally followed by a quoted section. */
    private static final Pattern POINTER = Pattern.compile("(docs/[\\w-]+\\.md|ROADMAP\\.md)(?:, \"([^\"]+)\")?");

    @Test
    void readmeIsShortForANewUser() throws IOException {
        long lines = Files.readAllLines(ROOT.resolve("README.md")).size();
        assertTrue(lines <= 250, "README.md has " + lines + " lines; figures and history belong in docs/");
    }

    @Test
    void everyLinkAndPictureOfThePagesExists() throws IOException {
        List<String> broken = new ArrayList<>();
        for (Path page : pages()) {
            Matcher m = LINK.matcher(Files.readString(page));
            while (m.find()) {
                String target = m.group(1);
                if (target.startsWith("http://") || target.startsWith("https://")) {
                    continue;
                }
                String file = target.contains("#") ? target.substring(0, target.indexOf('#')) : target;
                Path resolved = file.isEmpty() ? page : page.getParent().resolve(file).normalize();
                if (!Files.exists(resolved)) {
                    broken.add(ROOT.relativize(page) + ": " + target + " (no such file)");
                } else if (target.contains("#") && !anchors(resolved).contains(target.substring(target.indexOf('#') + 1))) {
                    broken.add(ROOT.relativize(page) + ": " + target + " (no such heading)");
                }
            }
        }
        assertEquals(List.of(), broken);
    }

    @Test
    void everyPointerFromCodeNamesAPageAndSectionThatExist() throws IOException {
        List<String> broken = new ArrayList<>();
        int pointers = 0;
        try (Stream<Path> files = Files.walk(ROOT)) {
            for (Path f : files.filter(DocsTest::isSourceOrConfig).toList()) {
                Matcher m = POINTER.matcher(Files.readString(f));
                while (m.find()) {
                    pointers++;
                    Path page = ROOT.resolve(m.group(1));
                    if (!Files.exists(page)) {
                        broken.add(ROOT.relativize(f) + ": " + m.group(1) + " does not exist");
                    } else if (m.group(2) != null && !Files.readString(page).contains(m.group(2))) {
                        broken.add(ROOT.relativize(f) + ": " + m.group(1) + " has no \"" + m.group(2) + "\"");
                    }
                }
            }
        }
        assertEquals(List.of(), broken);
        assertTrue(pointers > 0, "no pointer to docs/ found under " + ROOT);
    }

    /** The project's top directory: the nearest one up from here with README.md and docs/. */
    private static Path projectRoot() {
        for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent()) {
            if (Files.exists(p.resolve("README.md")) && Files.isDirectory(p.resolve("docs"))) {
                return p;
            }
        }
        throw new IllegalStateException("no README.md with docs/ above " + Path.of("").toAbsolutePath());
    }

    private static List<Path> pages() throws IOException {
        List<Path> pages = new ArrayList<>(List.of(ROOT.resolve("README.md"), ROOT.resolve("ROADMAP.md")));
        try (Stream<Path> docs = Files.list(ROOT.resolve("docs"))) {
            docs.filter(p -> p.toString().endsWith(".md")).sorted().forEach(pages::add);
        }
        return pages;
    }

    private static boolean isSourceOrConfig(Path f) {
        String rel = ROOT.relativize(f).toString();
        List<String> parts = new ArrayList<>();
        ROOT.relativize(f).forEach(p -> parts.add(p.toString()));
        if (parts.contains("target") || parts.contains(".git") || parts.get(0).equals("runs") || !Files.isRegularFile(f)) {
            return false;
        }
        return rel.endsWith(".java") && !rel.endsWith("DocsTest.java") || rel.endsWith(".yaml") || rel.endsWith(".sh")
                || rel.endsWith(".py") || rel.startsWith("scripts/") && !rel.contains(".");
    }

    /** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens. */
    private static List<String> anchors(Path page) throws IOException {
        List<String> out = new ArrayList<>();
        for (String line : Files.readAllLines(page)) {
            if (line.startsWith("#")) {
                String text = line.replaceFirst("^#+\\s*", "").toLowerCase(Locale.ROOT);
                out.add(text.replaceAll("[^\\p{L}\\p{N} _-]", "").replace(' ', '-'));
            }
        }
        return out;
    }
}
