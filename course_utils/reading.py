"""Further reading: the papers and courses the notebooks rest on, listed once.

Both READMEs, English and Chinese (between ``<!-- further-reading -->`` and
``<!-- /further-reading -->``, written by ``python -m tools.reading_list``, whose ``--check`` a test
runs), and the cheat sheet (notebook 09) print :func:`reading_markdown`, so the lists cannot drift:
add a paper here, run the tool.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["READING", "Reading", "reading_markdown"]


class Reading(NamedTuple):
    """One entry: who, what, where, a stable link, and where the course uses it."""

    authors: str
    title: str
    venue: str
    link: str
    url: str
    used_in: str
    """What in the course rests on it (``"05: the notes' first CNN"``)."""
    note: str = ""
    """A short name in parentheses after the title: ``LeNet``."""

    def markdown(self) -> str:
        """The entry as one Markdown list item (no line breaks: a list item wraps where it is shown)."""
        title = f"*{self.title}*" + (f" ({self.note})" if self.note else "")
        title += "" if title.endswith(("?*", "!*")) else "."
        link = f"<{self.url}>" if self.link == self.url else f"[{self.link}]({self.url})"
        return f"- {self.authors}. {title} {self.venue}. {link} — {self.used_in}"


READING = (
    Reading("Y. LeCun, L. Bottou, Y. Bengio, P. Haffner", "Gradient-based learning applied to document recognition",
            "Proc. IEEE 86(11), 1998", "doi:10.1109/5.726791", "https://doi.org/10.1109/5.726791",
            "01, 05: convolution, pooling and a small CNN on digits", note="LeNet"),
    Reading("A. Krizhevsky, I. Sutskever, G. E. Hinton", "ImageNet classification with deep convolutional neural "
            "networks", "NIPS 2012", "proceedings",
            "https://proceedings.neurips.cc/paper/2012/hash/c399862d3b9d6b76c8436e924a68c45b-Abstract.html",
            "01, 03, 05: the 227 × 227 input, ReLU, dropout", note="AlexNet"),
    Reading("K. Simonyan, A. Zisserman", "Very deep convolutional networks for large-scale image recognition",
            "ICLR 2015", "arXiv:1409.1556", "https://arxiv.org/abs/1409.1556",
            "04, 05: stacked 3 × 3 kernels", note="VGG"),
    Reading("K. He, X. Zhang, S. Ren, J. Sun", "Deep residual learning for image recognition", "CVPR 2016",
            "arXiv:1512.03385", "https://arxiv.org/abs/1512.03385",
            "05: degradation and the residual block", note="ResNet"),
    Reading("M.-E. Nilsback, A. Zisserman", "Automated flower classification over a large number of classes",
            "ICVGIP 2008", "doi:10.1109/ICVGIP.2008.47", "https://doi.org/10.1109/ICVGIP.2008.47",
            "06-08: the data set", note="Flowers-102"),
    Reading("S. Kornblith, J. Shlens, Q. V. Le", "Do better ImageNet models transfer better?", "CVPR 2019",
            "arXiv:1805.08974", "https://arxiv.org/abs/1805.08974",
            "06: which backbone, frozen features or fine-tuning"),
    Reading("M. Tan, Q. V. Le", "EfficientNet: rethinking model scaling for convolutional neural networks",
            "ICML 2019", "arXiv:1905.11946", "https://arxiv.org/abs/1905.11946",
            "06-08: the family of the offline backbone"),
    Reading("R. R. Selvaraju, M. Cogswell, A. Das, R. Vedantam, D. Parikh, D. Batra", "Grad-CAM: visual "
            "explanations from deep networks via gradient-based localization", "ICCV 2017", "arXiv:1610.02391",
            "https://arxiv.org/abs/1610.02391", "08: where the network looked"),
    Reading("C. Szegedy, V. Vanhoucke, S. Ioffe, J. Shlens, Z. Wojna", "Rethinking the Inception architecture for "
            "computer vision", "CVPR 2016", "arXiv:1512.00567", "https://arxiv.org/abs/1512.00567",
            "07: label smoothing, introduced", note="label smoothing"),
    Reading("R. Müller, S. Kornblith, G. E. Hinton", "When does label smoothing help?", "NeurIPS 2019",
            "arXiv:1906.02629", "https://arxiv.org/abs/1906.02629", "07: what label smoothing does to confidence"),
    Reading("C. Guo, G. Pleiss, Y. Sun, K. Q. Weinberger", "On calibration of modern neural networks", "ICML 2017",
            "arXiv:1706.04599", "https://arxiv.org/abs/1706.04599",
            "07: expected calibration error, temperature scaling", note="calibration"),
    Reading("A. Zhang, Z. C. Lipton, M. Li, A. J. Smola", "动手学深度学习", "Dive into Deep Learning, Chinese "
            "edition", "https://zh.d2l.ai", "https://zh.d2l.ai",
            "01-08: the Chinese terms where the notes are silent"),
    Reading("Stanford CS231n", "Convolutional Neural Networks for Visual Recognition", "Course notes",
            "https://cs231n.github.io", "https://cs231n.github.io",
            "01-05: the arithmetic of convolutions, pooling and receptive fields"),
)
"""The course's reading list, in the order the course needs it: architectures, data, transfer,
what a network looks at, losses and calibration, then the two courses."""


def reading_markdown() -> str:
    """:data:`READING` as a Markdown list, one item per line: what the README and notebook 09 show."""
    return "\n".join(entry.markdown() for entry in READING) + "\n"
