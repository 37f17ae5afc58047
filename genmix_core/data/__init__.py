"""The user's photos: project folders, importing (uploads, zips, folders, sample data), decoding, listing.

Public face of the data package; pages and the other packages import from here.
"""

from genmix_core.data.dataset import (COLUMNS, IMAGE_SUFFIXES, MIN_IMAGES_PER_CLASS, Rejection, check_dataset,
                                      scan_folder, scan_project, scan_split)
from genmix_core.data.imageio import DecodedImage, decode_image, encode_png, load_image_bytes
from genmix_core.data.importing import ImportReport, import_folder, import_uploads, use_sample_data
from genmix_core.data.project import SPLITS, Project, check_split, list_projects, open_project

__all__ = [
    "COLUMNS", "IMAGE_SUFFIXES", "MIN_IMAGES_PER_CLASS", "SPLITS", "DecodedImage", "ImportReport", "Project",
    "Rejection", "check_dataset", "check_split", "decode_image", "encode_png", "import_folder", "import_uploads",
    "list_projects", "load_image_bytes", "open_project", "scan_folder", "scan_project", "scan_split",
    "use_sample_data",
]
