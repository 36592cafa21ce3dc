using MultiArch.Build.Tasks.Tests.Infrastructure;

namespace MultiArch.Build.Tasks.Tests.Unit;

[TestClass]
public sealed class ApprovalsTests
{
    private string _directory = null!;

    [TestInitialize]
    public void CreateDirectory()
    {
        _directory = Path.Combine(Path.GetTempPath(), "multiarch-approvals-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path.Combine(_directory, "sub"));
    }

    [TestCleanup]
    public void DeleteDirectory() => Directory.Delete(_directory, recursive: true);

    [TestMethod]
    public void Mismatch_WritesReceivedFile_AndFailsWithDiff()
    {
        File.WriteAllText(Path.Combine(_directory, "sub", "out.txt"), "one\ntwo\nthree\nfour\n");

        var failure = Assert.ThrowsExactly<AssertFailedException>(
            () => Approvals.Verify("one\ntwo\n3\nfour\n", _directory, "sub/out.txt", accept: false));

        var received = Path.Combine(_directory, "sub", "out.received.txt");
        Assert.IsTrue(File.Exists(received));
        Assert.AreEqual("one\ntwo\n3\nfour\n", File.ReadAllText(received));
        StringAssert.Contains(failure.Message, "sub/out.txt");
        StringAssert.Contains(failure.Message, received);
        StringAssert.Contains(failure.Message, Approvals.AcceptVariable + "=1");
        StringAssert.Contains(failure.Message, "@@ -1,4 +1,4 @@\n one\n two\n-three\n+3\n four\n");
        Assert.AreEqual("one\ntwo\nthree\nfour\n", File.ReadAllText(Path.Combine(_directory, "sub", "out.txt")), "the golden file is left alone");
    }

    [TestMethod]
    public void Match_Passes_AndRemovesAStaleReceivedFile()
    {
        File.WriteAllText(Path.Combine(_directory, "sub", "out.json"), "{}\n");
        File.WriteAllText(Path.Combine(_directory, "sub", "out.received.json"), "old");

        Approvals.Verify("{}\n", _directory, "sub/out.json", accept: false);

        Assert.IsFalse(File.Exists(Path.Combine(_directory, "sub", "out.received.json")));
    }

    [TestMethod]
    public void MissingGolden_Fails_AndWritesReceivedFile()
    {
        var failure = Assert.ThrowsExactly<AssertFailedException>(
            () => Approvals.Verify("new\n", _directory, "sub/new.txt", accept: false));

        StringAssert.Contains(failure.Message, "does not exist yet");
        Assert.AreEqual("new\n", File.ReadAllText(Path.Combine(_directory, "sub", "new.received.txt")));
    }

    [TestMethod]
    public void Accept_OverwritesGolden_WithExactBytes()
    {
        File.WriteAllText(Path.Combine(_directory, "sub", "out.txt"), "old\n");

        Approvals.Verify("new\r\nlines\n\n", _directory, "sub/out.txt", accept: true);

        CollectionAssert.AreEqual("new\r\nlines\n\n"u8.ToArray(), File.ReadAllBytes(Path.Combine(_directory, "sub", "out.txt")));
        Assert.IsFalse(File.Exists(Path.Combine(_directory, "sub", "out.received.txt")));
    }

    [TestMethod]
    public void Diff_ShowsCarriageReturnsAndAMissingFinalNewline()
    {
        var diff = Approvals.Diff("a\nb\n", "a\r\nb", "x.txt");

        StringAssert.Contains(diff, "@@ -1,2 +1,2 @@\n-a\n+a\\r\n b\n");
        StringAssert.Contains(diff, "the golden file ends with a newline, the output does not");
    }

    [TestMethod]
    public void ReceivedPath_KeepsTheExtensionLast() =>
        Assert.AreEqual(Path.Combine("dir", "name.received.txt"), Approvals.ReceivedPath(Path.Combine("dir", "name.txt")));

    [TestMethod]
    public void RepoRoot_HoldsTheSolution() =>
        Assert.IsTrue(File.Exists(Path.Combine(RepoPaths.Root, "MultiArch.Build.Tasks.slnx")));
}
