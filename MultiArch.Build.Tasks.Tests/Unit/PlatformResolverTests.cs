using MultiArch.Build.Tasks.Publishing;

namespace MultiArch.Build.Tasks.Tests.Unit;

[TestClass]
public sealed class PlatformResolverTests
{
    private static IReadOnlyList<ResolvedPlatform> Resolve(IReadOnlyList<PlatformRequest> items, string? rids = null, string format = "{tag}-{rid}") =>
        PlatformResolver.Resolve(items, rids, "reg.io:5000", "app", "1.0", format);

    private static PlatformRequest Item(string platform, string? rid = null, string? image = null) => new(platform, rid, image, null, null, null);

    [TestMethod]
    public void ItemsDeriveRuntimeIdentifiersAndVariants()
    {
        var resolved = Resolve([Item("linux/amd64"), Item("linux/arm64"), Item("linux/arm/v7"), Item("linux/amd64", "linux-musl-x64") with { Include = "linux/amd64" }]);
        CollectionAssert.AreEqual(new[] { "linux-x64", "linux-arm64", "linux-arm", "linux-musl-x64" }, resolved.Select(r => r.RuntimeIdentifier).ToArray());
        CollectionAssert.AreEqual(new[] { "linux/amd64", "linux/arm64/v8", "linux/arm/v7", "linux/amd64" }, resolved.Select(r => r.Platform.ToString()).ToArray());
        Assert.AreEqual("reg.io:5000/app:1.0-linux-arm64", resolved[1].Image);
    }

    [TestMethod]
    public void RuntimeIdentifiersMapToPlatformsWhenThereAreNoItems()
    {
        var resolved = Resolve([], "linux-x64;linux-arm;win-x64");
        CollectionAssert.AreEqual(new[] { "linux/amd64", "linux/arm/v7", "windows/amd64" }, resolved.Select(r => r.Platform.ToString()).ToArray());
    }

    [TestMethod]
    public void ExistingImagesAreNotBuilt()
    {
        var resolved = Resolve([Item("linux/arm/v7", image: "other.io/app:armv7"), Item("linux/amd64")]);
        Assert.IsFalse(resolved[0].IsBuilt);
        Assert.IsTrue(resolved[0].IsExisting);
        Assert.AreEqual("other.io/app:armv7", resolved[0].Image);
        Assert.IsTrue(resolved[1].IsBuilt);
    }

    [TestMethod]
    public void TagFormatPlaceholders() =>
        Assert.AreEqual("reg.io:5000/app:linux-arm64-v8-1.0", Resolve([Item("linux/arm64")], format: "{os}-{arch}-{variant}-{tag}")[0].Image);

    [TestMethod]
    [DataRow("linux/amd64", "linux-arm64", null, "MULTIARCH4012")]
    [DataRow("linux/arm/v6", "linux-arm", null, "MULTIARCH4012")]
    [DataRow("linux/amd64", "linux-banana", null, "MULTIARCH4010")]
    [DataRow("plan9/amd64", null, null, "MULTIARCH4011")]
    [DataRow("linux/AMD64", null, null, "MULTIARCH2009")]
    public void BadItemsAreCodedErrors(string platform, string? rid, string? rids, string code)
    {
        var ex = Assert.ThrowsExactly<MultiArchException>(() => Resolve([Item(platform, rid)], rids));
        Assert.AreEqual(code, ex.Code, ex.Message);
    }

    [TestMethod]
    public void UnknownRuntimeIdentifierInTheListIsACodedError()
    {
        var ex = Assert.ThrowsExactly<MultiArchException>(() => Resolve([], "linux-x64;osx-arm64"));
        Assert.AreEqual("MULTIARCH4010", ex.Code);
        StringAssert.Contains(ex.Message, "osx-arm64");
    }

    [TestMethod]
    public void NothingToPublishIsACodedError() =>
        Assert.AreEqual("MULTIARCH4016", Assert.ThrowsExactly<MultiArchException>(() => Resolve([], null)).Code);

    [TestMethod]
    public void RestoreCheckNamesTheMissingRidsAndWhatToSet()
    {
        var assets = Path.GetTempFileName();
        File.WriteAllText(assets, "{\"version\":3,\"targets\":{\"net10.0\":{},\"net10.0/linux-x64\":{}}}");
        PlatformResolver.CheckRestore(assets, "net10.0", ["linux-x64"], "App.csproj");
        var ex = Assert.ThrowsExactly<MultiArchException>(() => PlatformResolver.CheckRestore(assets, "net10.0", ["linux-x64", "linux-arm64"], "App.csproj"));
        Assert.AreEqual("MULTIARCH4015", ex.Code);
        StringAssert.Contains(ex.Message, "linux-arm64");
        StringAssert.Contains(ex.Message, "<RuntimeIdentifiers>linux-x64;linux-arm64</RuntimeIdentifiers>");
        StringAssert.Contains(ex.Message, "'-p:RuntimeIdentifiers=\"linux-x64;linux-arm64\"'", "quoted so that it works when pasted into bash or PowerShell (ReadmeCommandTests runs it)");
        File.Delete(assets);
    }
}
