using MultiArch.Build.Tasks.Oci;

namespace MultiArch.Build.Tasks.Tests.Unit;

[TestClass]
public sealed class PlatformAndDigestTests
{
    [TestMethod]
    [DataRow("linux/amd64", "linux", "amd64", null)]
    [DataRow("linux/arm64/v8", "linux", "arm64", "v8")]
    [DataRow("linux/arm/v7", "linux", "arm", "v7")]
    [DataRow(" windows/amd64 ", "windows", "amd64", null)]
    public void ParsesPlatforms(string text, string os, string arch, string? variant)
    {
        var platform = Platform.Parse(text);
        Assert.AreEqual(os, platform.Os);
        Assert.AreEqual(arch, platform.Architecture);
        Assert.AreEqual(variant, platform.Variant);
        Assert.AreEqual(text.Trim(), platform.ToString());
    }

    [TestMethod]
    [DataRow("linux")]
    [DataRow("linux/amd64/v1/x")]
    [DataRow("linux//v7")]
    [DataRow("Linux/AMD64")]
    [DataRow("")]
    public void RejectsBadPlatforms(string text)
    {
        var ex = Assert.ThrowsExactly<MultiArchException>(() => Platform.Parse(text));
        Assert.AreEqual("MULTIARCH2009", ex.Code);
    }

    [TestMethod]
    public void Arm64WithAndWithoutV8AreTheSamePlatform()
    {
        Assert.AreEqual(Platform.Parse("linux/arm64"), Platform.Parse("linux/arm64/v8"));
        Assert.AreEqual(Platform.Parse("linux/arm64").GetHashCode(), Platform.Parse("linux/arm64/v8").GetHashCode());
        Assert.AreNotEqual(Platform.Parse("linux/arm/v7"), Platform.Parse("linux/arm/v6"));
        Assert.AreNotEqual(Platform.Parse("linux/arm/v7"), Platform.Parse("linux/arm"));
        Assert.AreNotEqual(
            new Platform("windows", "amd64", osVersion: "10.0.17763.1"),
            new Platform("windows", "amd64", osVersion: "10.0.20348.1"));
    }

    [TestMethod]
    public void SatisfiedByIgnoresWhatTheRequirementLeavesOut()
    {
        var config = new Platform("windows", "amd64", osVersion: "10.0.20348.2113", osFeatures: ["win32k"]);
        Assert.IsTrue(Platform.Parse("windows/amd64").IsSatisfiedBy(config));
        Assert.IsFalse(Platform.Parse("windows/arm64").IsSatisfiedBy(config));
        Assert.IsTrue(Platform.Parse("linux/arm64/v8").IsSatisfiedBy(Platform.Parse("linux/arm64")));
        Assert.IsFalse(Platform.Parse("linux/arm/v7").IsSatisfiedBy(Platform.Parse("linux/arm/v6")));
    }

    [TestMethod]
    public void DigestFromContentAndMatches()
    {
        var digest = Digest.FromContent("hello"u8);
        Assert.AreEqual("sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824", digest.ToString());
        Assert.IsTrue(digest.Matches("hello"u8));
        Assert.IsFalse(digest.Matches("hellO"u8));
        Assert.AreEqual(digest, Digest.Parse(digest.ToString()));
    }

    [TestMethod]
    [DataRow("sha256:2CF24DBA5FB0A30E26E83B2AC5B9E29E1B161E5C1FA7425E73043362938B9824")]
    [DataRow("sha256:2cf24d")]
    [DataRow("2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824")]
    [DataRow("sha1:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c")]
    [DataRow("sha256:../../../../etc/passwd0000000000000000000000000000000000000000")]
    public void RejectsBadDigests(string text)
    {
        var ex = Assert.ThrowsExactly<MultiArchException>(() => Digest.Parse(text));
        Assert.AreEqual("MULTIARCH2002", ex.Code);
    }
}
